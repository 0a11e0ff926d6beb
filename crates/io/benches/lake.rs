//! Lake write throughput (rows per second on one core: the sink writes on its caller's thread) for trades
//! and bars, and the size of a million trades in Parquet against their JSON Kafka messages and against the
//! raw venue frames they came from: Binance trade frames rendered from the documented payload in
//! `crates/connectors/tests/fixtures/binance/trade.json` with each trade's values, and the bytes per trade
//! of every venue's documented or recorded trade frame in those fixtures.
//!
//! `cargo bench -p tickstream-io --bench lake`

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tickstream_io::lake::{ParquetSink, ParquetSinkConfig};
use tickstream_model::{
    AggressorSide, Bar, Decimal, Event, Exchange, Interval, Symbol, Trade, UnixNanos,
};

/// 2026-11-21T00:00:00Z.
const DAY_START: i64 = 1_795_219_200_000_000_000;
const SYMBOLS: [(&str, &str, i128); 4] = [
    ("BTC-USDT", "BTCUSDT", 9_000_000),
    ("ETH-USDT", "ETHUSDT", 300_000),
    ("SOL-USDT", "SOLUSDT", 14_000),
    ("XRP-USDT", "XRPUSDT", 220),
];

struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Trades shaped like a busy venue's: a price random walk in cents, quantities spread over four orders of
/// magnitude, millisecond timestamps with irregular gaps, increasing ids, mixed sides.
fn market_trades(n: usize) -> Vec<Event> {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let mut prices: Vec<i128> = SYMBOLS.iter().map(|s| s.2).collect();
    let raw: Vec<Arc<str>> = SYMBOLS.iter().map(|s| Arc::from(s.1)).collect();
    let symbols: Vec<Symbol> = SYMBOLS
        .iter()
        .map(|s| Symbol::parse(s.0).expect("symbol"))
        .collect();
    let mut ts = DAY_START;
    (0..n)
        .map(|i| {
            let k = (noise.next() % 4) as usize;
            ts += (noise.next() % 40) as i64 * 1_000_000;
            let step = (noise.next() % 5) as i128 - 2;
            prices[k] = (prices[k] + step).max(1);
            let quantity =
                Decimal::new((noise.next() % 10_000_000) as i128 + 1, 6).expect("quantity");
            Event::Trade(Trade {
                exchange: Exchange::Binance,
                symbol: symbols[k].clone(),
                raw_symbol: raw[k].clone(),
                ts_event: UnixNanos(ts),
                ts_recv: UnixNanos(ts + 3_000_000 + (noise.next() % 2_000_000) as i64),
                trade_id: (4_200_000_000 + i as u64).to_string(),
                price: Decimal::new(prices[k], 2).expect("price"),
                quantity,
                side: if noise.next().is_multiple_of(2) {
                    AggressorSide::Buy
                } else {
                    AggressorSide::Sell
                },
            })
        })
        .collect()
}

fn bars(n: usize) -> Vec<Event> {
    let mut noise = Noise(0x2545_F491_4F6C_DD1D);
    let symbols: Vec<Symbol> = SYMBOLS
        .iter()
        .map(|s| Symbol::parse(s.0).expect("symbol"))
        .collect();
    let mut close = 90_000.0;
    (0..n)
        .map(|i| {
            let k = i % 4;
            let open_time = DAY_START + (i / 4) as i64 * Interval::M1.nanos();
            close += (noise.next() % 200) as f64 / 10.0 - 10.0;
            let volume = (noise.next() % 100_000) as f64 / 1_000.0;
            Event::Bar(Bar {
                exchange: Exchange::Binance,
                symbol: symbols[k].clone(),
                interval: Interval::M1,
                open_time: UnixNanos(open_time),
                close_time: UnixNanos(open_time + Interval::M1.nanos()),
                open: close - 3.0,
                high: close + 5.0,
                low: close - 7.5,
                close,
                volume,
                quote_volume: volume * close,
                trades: noise.next() % 2_000,
                vwap: close - 1.0,
                buy_volume: volume / 2.0,
                sell_volume: volume / 2.0,
                gap: false,
            })
        })
        .collect()
}

fn write_all(root: &Path, events: &[Event]) {
    let mut sink = ParquetSink::open(ParquetSinkConfig::new(root)).expect("open sink");
    for chunk in events.chunks(10_000) {
        sink.write(chunk).expect("write");
    }
    // The end of a run: segments merged into each partition's zstd file, as analysts keep it.
    sink.close().expect("close");
}

fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        total += if path.is_dir() {
            bytes_under(&path)
        } else {
            path.metadata().expect("metadata").len()
        };
    }
    total
}

/// The connectors' fixtures: documented or recorded venue frames (sources in each `SOURCES.md`).
fn fixture(path: &str) -> serde_json::Value {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../connectors/tests/fixtures")
        .join(path);
    let text = std::fs::read_to_string(&full).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Trades in a frame: objects with a trade id and a price, at any depth.
fn trades_in(frame: &serde_json::Value) -> usize {
    match frame {
        serde_json::Value::Object(map) => {
            let id = ["t", "i", "id", "tradeId", "trade_id"]
                .iter()
                .any(|k| map.contains_key(*k));
            let price = ["p", "px", "price"].iter().any(|k| map.contains_key(*k));
            usize::from(id && price) + map.values().map(trades_in).sum::<usize>()
        }
        serde_json::Value::Array(items) => items.iter().map(trades_in).sum(),
        _ => 0,
    }
}

/// Bytes per trade of each venue's trade frame as sent (compact JSON).
fn venue_frame_bytes() -> Vec<(&'static str, f64)> {
    [
        ("binance", "binance/trade.json"),
        ("coinbase", "coinbase/market_trades.json"),
        ("kraken", "kraken/trade-update.json"),
        ("okx", "okx/trades.json"),
        ("bybit", "bybit/spot-publicTrade.json"),
        ("bitstamp", "bitstamp/live_trades.json"),
    ]
    .into_iter()
    .map(|(venue, path)| {
        let frame = fixture(path);
        let bytes = serde_json::to_vec(&frame).expect("json").len();
        (venue, bytes as f64 / trades_in(&frame).max(1) as f64)
    })
    .collect()
}

/// The Binance trade frame (raw stream) that would have carried `event`.
fn binance_frame(template: &serde_json::Value, event: &Event) -> Vec<u8> {
    let mut frame = template.clone();
    if let Event::Trade(t) = event {
        let millis = t.ts_event.0 / 1_000_000;
        frame["E"] = (t.ts_recv.0 / 1_000_000).into();
        frame["s"] = t.raw_symbol.as_ref().into();
        frame["t"] = t.trade_id.parse::<u64>().unwrap_or(0).into();
        frame["p"] = t.price.to_string().into();
        frame["q"] = t.quantity.to_string().into();
        frame["T"] = millis.into();
        frame["m"] = matches!(t.side, AggressorSide::Sell).into();
    }
    serde_json::to_vec(&frame).expect("json")
}

/// Prints the size of one million trades in the lake, as JSON Kafka messages and as raw venue frames.
fn report_sizes() {
    let trades = market_trades(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    write_all(dir.path(), &trades);
    let parquet = bytes_under(dir.path());
    let json: usize = trades
        .iter()
        .map(|e| serde_json::to_vec(e).expect("json").len())
        .sum();
    let mut per_symbol = BTreeMap::new();
    for e in &trades {
        *per_symbol.entry(e.key().to_owned()).or_insert(0usize) += 1;
    }
    println!(
        "lake: 1,000,000 trades ({} symbols) = {parquet} bytes of Parquet ({:.1} bytes/trade); \
         JSON Kafka messages {json} bytes ({:.1} bytes/trade); ratio {:.1}x",
        per_symbol.len(),
        parquet as f64 / 1e6,
        json as f64 / 1e6,
        json as f64 / parquet as f64
    );
    let template = fixture("binance/trade.json");
    let raw: usize = trades
        .iter()
        .map(|e| binance_frame(&template, e).len())
        .sum();
    println!(
        "lake: the same trades as raw Binance trade frames {raw} bytes ({:.1} bytes/trade); \
         raw frames / Parquet = {:.1}x",
        raw as f64 / 1e6,
        raw as f64 / parquet as f64
    );
    for (venue, bytes) in venue_frame_bytes() {
        println!(
            "lake: {venue} trade frame (fixture) {bytes:.1} bytes/trade; / Parquet {:.1}x",
            bytes / (parquet as f64 / 1e6)
        );
    }
}

fn lake_benches(c: &mut Criterion) {
    report_sizes();
    let mut group = c.benchmark_group("lake");
    group.sample_size(10);

    for (name, events) in [
        ("write_trades", market_trades(200_000)),
        ("write_bars", bars(200_000)),
    ] {
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    write_all(dir.path(), &events);
                    dir
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, lake_benches);
criterion_main!(benches);
