//! The exchange simulator's cost per market step and venue: the frames a connection writes for one
//! symbol subscribed to trades, best bid/offer and the book, after subscribing with the connector's own
//! subscription frames. The benchmark's load generator runs in the same process as the pipeline, so what
//! it spends here is taken from the pipeline.
//!
//! `cargo bench -p tickstream-connectors --bench simulator`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickstream_connectors::venues::binance::Binance;
use tickstream_connectors::venues::bitstamp::Bitstamp;
use tickstream_connectors::venues::bybit::{Bybit, BybitMarket};
use tickstream_connectors::venues::coinbase::CoinbaseAdvanced;
use tickstream_connectors::venues::coinbase_exchange::CoinbaseExchange;
use tickstream_connectors::venues::kraken::Kraken;
use tickstream_connectors::venues::okx::Okx;
use tickstream_connectors::{BookMode, Channel, Subscription, Venue};
use tickstream_model::Symbol;
use tickstream_simulator::market::{Market, Step};
use tickstream_simulator::{Protocol, Shared, binance, bitstamp, bybit, coinbase, kraken, okx};

/// Market steps per measured pass.
const STEPS: usize = 1_000;

fn subs(channels: &[Channel], canonical: &str, raw: &str) -> Vec<Subscription> {
    channels
        .iter()
        .map(|&channel| Subscription {
            channel,
            symbol: Symbol::parse(canonical).unwrap_or_else(|e| panic!("{e}")),
            raw_symbol: raw.into(),
        })
        .collect()
}

fn bench_protocol(
    c: &mut Criterion,
    name: &str,
    canonical: &str,
    venue: &dyn Venue,
    subs: &[Subscription],
    mut protocol: impl Protocol,
) {
    let shared = Shared::new(7);
    let mut out = Vec::new();
    for frame in venue.subscribe_frames(subs) {
        protocol.on_client_text(&frame, &shared, &mut out);
    }
    let mut market = Market::new(canonical, 7);
    let steps: Vec<Step> = (0..STEPS)
        .map(|i| market.step(1_700_000_000_000 + i as i64))
        .collect();
    out.clear();
    for step in &steps {
        protocol.on_step(step, false, &mut out);
    }
    assert!(
        out.len() >= STEPS,
        "{name}: {} frames for {STEPS} steps",
        out.len()
    );
    let mut g = c.benchmark_group("simulator");
    g.throughput(Throughput::Elements(STEPS as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            for step in &steps {
                protocol.on_step(black_box(step), false, &mut out);
            }
            black_box(&out);
        })
    });
    g.finish();
}

fn venues(c: &mut Criterion) {
    use Channel::{Bbo, Book, Trades};
    let all = [Trades, Bbo, Book];
    let s = subs(&all, "BTC-USDT", "BTCUSDT");
    let venue = Binance::new(&s, "http://127.0.0.1:1", BookMode::Unsynced);
    bench_protocol(
        c,
        "binance",
        "BTC-USDT",
        &venue,
        &s,
        binance::BinanceProtocol::default(),
    );
    let s = subs(&all, "BTC-USD", "BTC-USD");
    let venue = CoinbaseAdvanced::new(&s, BookMode::Unsynced);
    bench_protocol(
        c,
        "coinbase",
        "BTC-USD",
        &venue,
        &s,
        coinbase::AdvancedProtocol::default(),
    );
    let venue = CoinbaseExchange::new(&s, BookMode::Unsynced);
    let protocol = coinbase::ExchangeProtocol::default();
    bench_protocol(c, "coinbase_exchange", "BTC-USD", &venue, &s, protocol);
    let s = subs(&all, "BTC-USD", "BTC/USD");
    let venue = Kraken::new(&s, 10, BookMode::Unsynced).unwrap_or_else(|e| panic!("{e}"));
    bench_protocol(
        c,
        "kraken",
        "BTC-USD",
        &venue,
        &s,
        kraken::KrakenProtocol::default(),
    );
    let s = subs(&all, "BTC-USDT", "BTC-USDT");
    let venue = Okx::new(&s, BookMode::Unsynced);
    bench_protocol(
        c,
        "okx",
        "BTC-USDT",
        &venue,
        &s,
        okx::OkxProtocol::default(),
    );
    let s = subs(&all, "BTC-USD", "btcusd");
    let venue = Bitstamp::new(&s, "http://127.0.0.1:1", BookMode::Unsynced);
    bench_protocol(
        c,
        "bitstamp",
        "BTC-USD",
        &venue,
        &s,
        bitstamp::BitstampProtocol::default(),
    );
    let s = subs(&all, "BTC-USDT", "BTCUSDT");
    let venue =
        Bybit::new(&s, BybitMarket::Spot, 50, BookMode::Unsynced).unwrap_or_else(|e| panic!("{e}"));
    let protocol = bybit::BybitProtocol::new(bybit::Category::Spot);
    bench_protocol(c, "bybit", "BTC-USDT", &venue, &s, protocol);
}

criterion_group!(benches, venues);
criterion_main!(benches);
