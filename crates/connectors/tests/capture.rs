//! Raw capture against the simulator: the frames a live source captured, normalized offline, give the
//! same trades the source emitted live; a capture writer that cannot keep up never holds the live path
//! back, and the frames it leaves out are reported.

mod common;

use std::io::{BufReader, Read};

use common::{Events, WAIT, config, is_state, last_status, simulator, until, until_state};
use tickstream_connectors::runner::{CaptureConfig, ExchangeSource};
use tickstream_connectors::{Channel, Market, normalize};
use tickstream_model::{Event, Exchange, FeedState, Trade, UnixNanos};
use tokio::sync::mpsc;

fn trades(events: &[Event]) -> Vec<Trade> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn captured_frames_normalize_to_the_trades_emitted_live() {
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&sim, Exchange::Binance, "BTC-USDT");
    config.channels = vec![Channel::Trades, Channel::Bbo];
    config.capture = Some(CaptureConfig::new(dir.path().join("capture")));
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(ExchangeSource::new(config, tx).unwrap().run());
    let mut rx = Events::new(rx);

    let mut live = Vec::new();
    while trades(&live).len() < 30 {
        live.extend(until(&mut rx, WAIT, "a trade", |e| matches!(e, Event::Trade(_))).await);
    }
    // Dropping the receiver stops the source, which finishes the capture file before returning.
    drop(rx);
    task.await.unwrap().unwrap();

    let mut files: Vec<_> = std::fs::read_dir(dir.path().join("capture"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut lines = String::new();
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("binance-") && name.ends_with(".jsonl.zst"),
            "{name}"
        );
        // Reading to the end fails on a zstd frame that was not finished.
        zstd::Decoder::new(std::fs::File::open(file).unwrap())
            .unwrap()
            .read_to_string(&mut lines)
            .unwrap();
    }
    let mut out = Vec::new();
    let summary = normalize(
        Exchange::Binance,
        Market::Spot,
        BufReader::new(lines.as_bytes()),
        &mut out,
    )
    .unwrap();
    assert!(summary.rejected.is_empty(), "{summary}");
    let replayed: Vec<Event> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();

    // Every captured frame came before the source stopped: the live trades are the start of the
    // replayed ones, equal field by field (ts_recv included), and the live quotes likewise.
    let (live_trades, replayed_trades) = (trades(&live), trades(&replayed));
    assert!(live_trades.len() >= 30);
    assert_eq!(
        replayed_trades[..live_trades.len()],
        live_trades[..],
        "replayed trades differ from the live ones"
    );
    let quotes = |events: &[Event]| -> Vec<Event> {
        events
            .iter()
            .filter(|e| matches!(e, Event::Quote(_)))
            .cloned()
            .collect()
    };
    let (live_quotes, replayed_quotes) = (quotes(&live), quotes(&replayed));
    assert!(!live_quotes.is_empty());
    assert_eq!(replayed_quotes[..live_quotes.len()], live_quotes[..]);
    for line in lines.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["connection_id"], 1, "{line}");
    }
}

/// The capture file is a named pipe nobody reads yet: the writer thread blocks opening it, so its
/// bounded queue fills while the source goes on.
#[cfg(unix)]
#[tokio::test]
async fn a_capture_writer_that_cannot_keep_up_never_blocks_the_live_path() {
    // Stay inside one hourly file for the whole test.
    let into_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 3600;
    if into_hour > 3600 - 20 {
        tokio::time::sleep(std::time::Duration::from_secs(3600 - into_hour + 1)).await;
    }
    let sim = simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let hour = &tickstream_model::UnixNanos::now().to_rfc3339()[..13];
    let fifo = dir.path().join(format!("binance-{hour}.jsonl.zst"));
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut config = config(&sim, Exchange::Binance, "BTC-USDT");
    config.channels = vec![Channel::Trades, Channel::Bbo];
    let mut capture = CaptureConfig::new(dir.path());
    capture.queue = 4;
    config.capture = Some(capture);
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(ExchangeSource::new(config, tx).unwrap().run());
    let mut rx = Events::new(rx);

    let events = until_state(&mut rx, FeedState::Backpressure).await;
    let first = last_status(&events);
    assert_eq!(
        first.detail,
        "capture writer behind: 1 frames left out of the capture"
    );
    // The live path goes on: trades keep coming while the capture leaves frames out, and the count
    // of frames left out grows.
    let mut live = 0;
    let mut reported = Vec::new();
    while live < 40 || reported.len() < 3 {
        let events = until(&mut rx, WAIT, "a trade or a report", |e| {
            matches!(e, Event::Trade(_)) || is_state(e, FeedState::Backpressure)
        })
        .await;
        match events.last() {
            Some(Event::Trade(_)) => live += 1,
            Some(Event::Status(s)) => reported.push(s.detail.clone()),
            _ => unreachable!(),
        }
    }
    assert_eq!(
        reported[..2],
        [
            "capture writer behind: 2 frames left out of the capture",
            "capture writer behind: 4 frames left out of the capture"
        ]
    );
    // Someone reads the pipe: the writer gets going, and the source finishes its file on shutdown.
    let reader = std::thread::spawn(move || std::fs::read(&fifo).unwrap());
    drop(rx);
    task.await.unwrap().unwrap();
    let bytes = reader.join().unwrap();
    let mut text = String::new();
    zstd::Decoder::new(&bytes[..])
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.lines().count() >= 5, "{text}");
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(record["ts_recv"].as_i64().unwrap() > UnixNanos(0).0);
    }
}
