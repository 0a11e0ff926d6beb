//! Parse + normalize throughput per venue and channel (frames/s on one core), on the documentation's
//! frames, and the Binance book kept in sync over a simulated sequence of depth updates.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tickstream_connectors::binance::Binance;
use tickstream_connectors::coinbase::CoinbaseAdvanced;
use tickstream_connectors::coinbase_exchange::CoinbaseExchange;
use tickstream_connectors::simulator::market::Market;
use tickstream_connectors::{BookMode, Venue};
use tickstream_model::UnixNanos;

const TS: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

fn fixture(dir: &str, name: &str) -> String {
    let path = format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    value.to_string()
}

/// As the combined stream sends it: the stream name first, then the payload.
fn combined(stream: &str, name: &str) -> String {
    format!(
        "{{\"stream\":\"{stream}\",\"data\":{}}}",
        fixture("binance", name)
    )
}

fn bench_frames(c: &mut Criterion, group: &str, venue: &mut dyn Venue, frames: &[(&str, String)]) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(8);
    for (name, frame) in frames {
        out.clear();
        venue.parse(frame, TS, &mut out).expect("the frame parses");
        assert!(!out.is_empty(), "{name} produced no event");
        g.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                let _ = venue.parse(black_box(frame), TS, &mut out);
                black_box(&out);
            })
        });
    }
    g.finish();
}

fn binance(c: &mut Criterion) {
    let mut venue = Binance::new(&[], "https://api.binance.com", BookMode::Unsynced);
    let frames = [
        ("trade", combined("bnbbtc@trade", "trade.json")),
        ("agg_trade", combined("bnbbtc@aggTrade", "aggTrade.json")),
        (
            "book_ticker",
            combined("bnbusdt@bookTicker", "bookTicker.json"),
        ),
        (
            "depth_unsynced",
            combined("bnbbtc@depth@100ms", "depthUpdate.json"),
        ),
        ("trade_raw_stream", fixture("binance", "trade.json")),
    ];
    bench_frames(c, "binance", &mut venue, &frames);
}

fn coinbase(c: &mut Criterion) {
    let mut venue = CoinbaseAdvanced::new(&[], BookMode::Unsynced);
    let frames = [
        ("market_trades", fixture("coinbase", "market_trades.json")),
        ("ticker", fixture("coinbase", "ticker.json")),
    ];
    bench_frames(c, "coinbase", &mut venue, &frames);
}

fn coinbase_exchange(c: &mut Criterion) {
    let mut venue = CoinbaseExchange::new(&[], BookMode::Unsynced);
    let frames = [
        ("match", fixture("coinbase-exchange", "match.json")),
        ("ticker", fixture("coinbase-exchange", "ticker.json")),
        (
            "l2update_unsynced",
            fixture("coinbase-exchange", "l2update.json"),
        ),
    ];
    bench_frames(c, "coinbase-exchange", &mut venue, &frames);
}

/// Depth updates applied to a synced book: parse, sequence check, book update, delta and BBO events.
fn binance_synced_book(c: &mut Criterion) {
    const UPDATES: usize = 10_000;
    let mut market = Market::new("BTC-USDT", 1);
    let (bids, asks) = market.book();
    let pairs = |levels: &[tickstream_model::Level]| -> Vec<[String; 2]> {
        levels
            .iter()
            .map(|l| [l.price().to_string(), l.quantity().to_string()])
            .collect()
    };
    let snapshot =
        serde_json::json!({"lastUpdateId": market.update_id(), "bids": pairs(&bids), "asks": pairs(&asks)}).to_string();
    let frames: Vec<String> = (0..UPDATES)
        .map(|i| {
            let step = market.step(1_700_000_000_000 + i as i64);
            let data = serde_json::json!({"e": "depthUpdate", "E": step.time_ms, "s": "BTCUSDT", "U": step.first_update_id,
                "u": step.last_update_id, "b": pairs(&step.bids), "a": pairs(&step.asks)});
            format!("{{\"stream\":\"btcusdt@depth@100ms\",\"data\":{data}}}")
        })
        .collect();
    let synced = || {
        let mut venue = Binance::new(&[], "https://api.binance.com", BookMode::Snapshots);
        let mut out = Vec::new();
        venue.parse(&frames[0], TS, &mut out).unwrap();
        venue
            .apply_snapshot("BTCUSDT", &snapshot, TS, &mut out)
            .unwrap();
        venue
    };
    let mut g = c.benchmark_group("binance");
    g.throughput(Throughput::Elements(UPDATES as u64 - 1));
    g.bench_function("depth_synced_book", |b| {
        b.iter_batched(
            synced,
            |mut venue| {
                let mut out = Vec::with_capacity(8);
                for frame in &frames[1..] {
                    out.clear();
                    venue.parse(frame, TS, &mut out).unwrap();
                    debug_assert!(
                        out.iter()
                            .all(|e| !matches!(e, tickstream_model::Event::Status(_)))
                    );
                }
                black_box(out)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(
    benches,
    binance,
    coinbase,
    coinbase_exchange,
    binance_synced_book
);
criterion_main!(benches);
