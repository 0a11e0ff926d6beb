//! Parse + normalize throughput per venue and channel (frames/s on one core), on the fixtures' frames;
//! the Binance book kept in sync over a simulated sequence of depth updates, and in-sequence book
//! streams for Kraken (each update checked against its checksum), OKX, Bitstamp and Bybit.
//!
//! `cargo bench -p tickstream-connectors --bench parse`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tickstream_connectors::venues::binance::Binance;
use tickstream_connectors::venues::bitstamp::Bitstamp;
use tickstream_connectors::venues::bybit::{Bybit, BybitMarket};
use tickstream_connectors::venues::coinbase::CoinbaseAdvanced;
use tickstream_connectors::venues::coinbase_exchange::CoinbaseExchange;
use tickstream_connectors::venues::kraken::Kraken;
use tickstream_connectors::venues::kraken::parse::book_checksum;
use tickstream_connectors::venues::okx::Okx;
use tickstream_connectors::{BookMode, Channel, L2Book, Subscription, Venue};
use tickstream_model::{Event, Level, Symbol, UnixNanos};
use tickstream_simulator::market::Market;

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

/// Frames of one in-sequence book stream; the book is rebuilt (untimed) before each pass.
const STREAM: usize = 20_000;

/// A fixture on one line with its text otherwise unchanged (Kraken's numbers keep their digits).
fn fixture_text(dir: &str, name: &str) -> String {
    let path = format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines().map(str::trim).collect()
}

fn sub(channel: Channel, canonical: &str, raw: &str) -> Subscription {
    Subscription {
        channel,
        symbol: Symbol::parse(canonical).unwrap_or_else(|e| panic!("{e}")),
        raw_symbol: raw.into(),
    }
}

/// A stream of book frames that follow each other, after `prepare` made the venue's book whole.
fn bench_stream(
    c: &mut Criterion,
    name: &str,
    venue: &mut dyn Venue,
    prepare: &dyn Fn(&mut dyn Venue),
    frames: &[String],
) {
    // Every frame of the stream must be applied to a whole book: no gap, one book update each.
    venue.reset();
    prepare(&mut *venue);
    let mut out = Vec::new();
    for frame in frames {
        venue
            .parse(frame, TS, &mut out)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let applied = out
        .iter()
        .filter(|e| matches!(e, Event::Book(b) if b.synced))
        .count();
    let statuses = out.iter().filter(|e| matches!(e, Event::Status(_))).count();
    assert_eq!((applied, statuses), (frames.len(), 0), "{name}");
    out.clear();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("frame", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                venue.reset();
                prepare(&mut *venue);
                let n = usize::try_from(iters - done)
                    .unwrap_or(usize::MAX)
                    .min(frames.len());
                let start = Instant::now();
                for frame in &frames[..n] {
                    venue.parse(black_box(frame), TS, &mut out).ok();
                    black_box(&out);
                    out.clear();
                }
                total += start.elapsed();
                done += n as u64;
            }
            total
        });
    });
    group.finish();
}

fn parse_or_panic(venue: &mut dyn Venue, frame: &str) {
    let mut out = Vec::new();
    venue
        .parse(frame, TS, &mut out)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Quantity text for step `i`: 8 decimals, never zero.
fn qty(i: usize) -> String {
    format!("{}.{:08}", 1 + i % 997, (i * 7919) % 100_000_000)
}

fn kraken(c: &mut Criterion) {
    let subs = [sub(Channel::Book, "MATIC-USD", "MATIC/USD")];
    let mut venue = Kraken::new(&subs, 10, BookMode::Snapshots).unwrap_or_else(|e| panic!("{e}"));
    let frames = [
        ("trade", fixture_text("kraken", "trade-update.json")),
        ("ticker_bbo", fixture_text("kraken", "ticker.json")),
    ];
    bench_frames(c, "kraken", &mut venue, &frames);

    // Updates changing one documented level each, with the checksum Kraken would send.
    let snapshot = fixture_text("kraken", "book-snapshot.json");
    let mut shadow = L2Book::new();
    let text = |p: &str, q: &str| {
        Level(
            p.parse().unwrap_or_else(|e| panic!("{e}")),
            q.parse().unwrap_or_else(|e| panic!("{e}")),
        )
    };
    let prices: Vec<&str> = [
        "0.5666", "0.5665", "0.5664", "0.5663", "0.5662", "0.5668", "0.5669", "0.5670", "0.5671",
        "0.5672",
    ]
    .to_vec();
    let value: serde_json::Value = serde_json::from_str(&snapshot).unwrap_or_default();
    let side = |name: &str| -> Vec<Level> {
        value["data"][0][name]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|l| {
                        text(
                            &l["price"].to_string(),
                            &format!("{:.8}", l["qty"].as_f64().unwrap_or(1.0)),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    shadow.apply_snapshot(&side("bids"), &side("asks"), None);
    let mut scratch = Vec::new();
    let frames: Vec<String> = (0..STREAM)
        .map(|i| {
            let price = prices[i % prices.len()];
            let q = qty(i);
            let level = text(price, &q);
            let is_bid = i % prices.len() < 5;
            if is_bid {
                shadow.apply_delta(&[level], &[]);
            } else {
                shadow.apply_delta(&[], &[level]);
            }
            let checksum = book_checksum(&shadow, 4, 8, &mut scratch);
            let (bids, asks) = if is_bid {
                (format!("[{{\"price\":{price},\"qty\":{q}}}]"), "[]".to_owned())
            } else {
                ("[]".to_owned(), format!("[{{\"price\":{price},\"qty\":{q}}}]"))
            };
            format!("{{\"channel\":\"book\",\"type\":\"update\",\"data\":[{{\"symbol\":\"MATIC/USD\",\"bids\":{bids},\"asks\":{asks},\"checksum\":{checksum},\"timestamp\":\"2023-10-06T17:35:55.440295Z\"}}]}}")
        })
        .collect();
    let prepare = |v: &mut dyn Venue| parse_or_panic(v, &snapshot);
    // The snapshot's quantities have 8 decimals once written at the pair's precision.
    venue.set_precision("MATIC/USD", 4, 8);
    bench_stream(
        c,
        "kraken/book_update_checked",
        &mut venue,
        &prepare,
        &frames,
    );

    let mut group = c.benchmark_group("kraken/checksum");
    group.throughput(Throughput::Elements(1));
    group.bench_function("top_10", |b| {
        b.iter(|| black_box(book_checksum(black_box(&shadow), 4, 8, &mut scratch)))
    });
    group.finish();
}

fn okx(c: &mut Criterion) {
    let mut venue = Okx::new(
        &[sub(Channel::Book, "BTC-USDT", "BTC-USDT")],
        BookMode::Snapshots,
    );
    let frames = [
        ("trades", fixture_text("okx", "trades.json")),
        ("bbo_tbt", fixture_text("okx", "bbo-tbt.json")),
    ];
    bench_frames(c, "okx", &mut venue, &frames);
    let snapshot = fixture_text("okx", "books-snapshot.json");
    let frames: Vec<String> = (0..STREAM)
        .map(|i| {
            let seq = 123_456 + i;
            format!("{{\"arg\":{{\"channel\":\"books\",\"instId\":\"BTC-USDT\"}},\"action\":\"update\",\"data\":[{{\"asks\":[[\"8477.34\",\"{}\",\"0\",\"1\"]],\"bids\":[[\"8475.55\",\"{}\",\"0\",\"2\"]],\"ts\":\"1597026383085\",\"checksum\":0,\"prevSeqId\":{seq},\"seqId\":{}}}]}}", 1 + i % 500, 2 + i % 300, seq + 1)
        })
        .collect();
    let prepare = |v: &mut dyn Venue| parse_or_panic(v, &snapshot);
    bench_stream(c, "okx/books_update", &mut venue, &prepare, &frames);
}

fn bitstamp(c: &mut Criterion) {
    let mut venue = Bitstamp::new(
        &[sub(Channel::Book, "BTC-USD", "btcusd")],
        "http://127.0.0.1:9",
        BookMode::Snapshots,
    );
    let frames = [
        ("live_trades", fixture_text("bitstamp", "live_trades.json")),
        (
            "order_book_top",
            fixture_text("bitstamp", "order_book.json"),
        ),
    ];
    bench_frames(c, "bitstamp", &mut venue, &frames);
    let body = fixture_text("bitstamp", "order_book_rest_body.json");
    let frames: Vec<String> = (0..STREAM)
        .map(|i| {
            let micros = 1_580_336_834_607_547 + i;
            format!("{{\"data\":{{\"timestamp\":\"1580336834\",\"microtimestamp\":\"{micros}\",\"bids\":[[\"9327.34\",\"{}\"]],\"asks\":[[\"9340.85\",\"{}\"]]}},\"event\":\"data\",\"channel\":\"diff_order_book_btcusd\"}}", qty(i), qty(i + 1))
        })
        .collect();
    let prepare = |v: &mut dyn Venue| {
        parse_or_panic(v, &frames[0]);
        let mut out = Vec::new();
        v.apply_snapshot("btcusd", &body, TS, &mut out)
            .unwrap_or_else(|e| panic!("{e}"));
    };
    bench_stream(
        c,
        "bitstamp/diff_order_book",
        &mut venue,
        &prepare,
        &frames[1..],
    );
}

fn bybit(c: &mut Criterion) {
    let subs = [sub(Channel::Book, "BTC-USDT", "BTCUSDT")];
    let mut venue = Bybit::new(&subs, BybitMarket::Spot, 50, BookMode::Snapshots)
        .unwrap_or_else(|e| panic!("{e}"));
    let snapshot = fixture_text("bybit", "orderbook-snapshot.json");
    let frames = [
        ("public_trade", fixture_text("bybit", "publicTrade.json")),
        (
            "orderbook_1_bbo",
            fixture_text("bybit", "linear-orderbook1-snapshot.json"),
        ),
    ];
    bench_frames(c, "bybit", &mut venue, &frames);
    let frames: Vec<String> = (0..STREAM)
        .map(|i| {
            format!("{{\"topic\":\"orderbook.50.BTCUSDT\",\"type\":\"delta\",\"ts\":1672304484978,\"data\":{{\"s\":\"BTCUSDT\",\"b\":[[\"16493.00\",\"{}\"]],\"a\":[[\"16612.00\",\"{}\"]],\"u\":{},\"seq\":7961638724}},\"cts\":1672304484976}}", qty(i), qty(i + 3), 18_521_289 + i)
        })
        .collect();
    let prepare = |v: &mut dyn Venue| parse_or_panic(v, &snapshot);
    bench_stream(c, "bybit/orderbook.50_delta", &mut venue, &prepare, &frames);
}

criterion_group!(
    benches,
    binance,
    coinbase,
    coinbase_exchange,
    binance_synced_book,
    kraken,
    okx,
    bitstamp,
    bybit
);
criterion_main!(benches);
