//! Event builders shared by the integration tests.
#![allow(dead_code)]

use tickstream_model::{
    AggressorSide, Bar, Event, Exchange, FeedState, FeedStatus, IndicatorValues, Interval, Quote,
    Symbol, Trade, UnixNanos,
};
use tickstream_operators::Operator;

pub const SEC: i64 = 1_000_000_000;
/// 2024-01-01T00:00:00Z.
pub const T0: i64 = 1_704_067_200 * SEC;

pub fn trade(
    exchange: Exchange,
    symbol: &Symbol,
    ts: i64,
    price: f64,
    quantity: f64,
    side: AggressorSide,
) -> Event {
    Event::Trade(Trade {
        exchange,
        symbol: symbol.clone(),
        raw_symbol: symbol.as_str().into(),
        ts_event: UnixNanos(ts),
        ts_recv: UnixNanos(ts + 1_000_000),
        trade_id: ts.to_string(),
        price: format!("{price:.2}").parse().unwrap(),
        quantity: format!("{quantity:.4}").parse().unwrap(),
        side,
    })
}

pub fn quote(exchange: Exchange, symbol: &Symbol, ts: i64, bid: f64, ask: f64) -> Event {
    Event::Quote(Quote {
        exchange,
        symbol: symbol.clone(),
        raw_symbol: symbol.as_str().into(),
        ts_event: UnixNanos(ts),
        ts_recv: UnixNanos(ts),
        bid_price: format!("{bid:.2}").parse().unwrap(),
        bid_size: "1".parse().unwrap(),
        ask_price: format!("{ask:.2}").parse().unwrap(),
        ask_size: "1".parse().unwrap(),
    })
}

pub fn status(exchange: Exchange, symbol: Option<&Symbol>, ts: i64, state: FeedState) -> Event {
    Event::Status(FeedStatus {
        exchange,
        symbol: symbol.cloned(),
        raw_symbol: None,
        ts_event: UnixNanos(ts),
        ts_recv: UnixNanos(ts),
        state,
        detail: String::new(),
        reason: None,
        connection_id: None,
        expected_sequence: None,
        received_sequence: None,
    })
}

/// A 1-minute bar from OHLCV.
pub fn bar(i: usize, open: f64, high: f64, low: f64, close: f64, volume: f64) -> Bar {
    let minute = Interval::M1.nanos();
    Bar {
        exchange: Exchange::Binance,
        symbol: Symbol::spot("BTC", "USDT"),
        interval: Interval::M1,
        open_time: UnixNanos(T0 + i as i64 * minute),
        close_time: UnixNanos(T0 + (i as i64 + 1) * minute),
        open,
        high,
        low,
        close,
        volume,
        quote_volume: (open + close) / 2.0 * volume,
        trades: 1,
        vwap: (open + close) / 2.0,
        buy_volume: volume / 2.0,
        sell_volume: volume / 2.0,
        gap: false,
    }
}

/// The indicator row of the 1-minute bar number `i` of BTC-USDT on Binance.
pub fn row(i: usize, values: &[(&str, f64)]) -> Event {
    let b = bar(i, 1.0, 1.0, 1.0, 1.0, 1.0);
    Event::Indicator(IndicatorValues {
        exchange: b.exchange,
        symbol: b.symbol,
        interval: b.interval,
        open_time: b.open_time,
        close_time: b.close_time,
        values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    })
}

/// A trading day of trades on two venues and two symbols: a random walk each, with arrival jitter up to
/// 1.5 s (within the default lateness), a few late prints, and a short outage.
pub fn market(seed: u64, count: usize) -> Vec<Event> {
    let mut rng = seed.max(1);
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 1_000_000) as f64 / 1_000_000.0
    };
    let symbols = [Symbol::spot("BTC", "USDT"), Symbol::spot("ETH", "USDT")];
    let venues = [Exchange::Binance, Exchange::Okx];
    let mut prices = [30_000.0, 30_010.0, 2_000.0, 2_001.0];
    let mut events = Vec::with_capacity(count + 2);
    let mut t = T0;
    for n in 0..count {
        t += (next() * 400_000_000.0) as i64;
        let which = (next() * 4.0) as usize % 4;
        prices[which] *= 1.0 + (next() - 0.5) * 0.002;
        let jitter = (next() * 1_500_000_000.0) as i64;
        let late = if n % 97 == 0 { 30 * SEC } else { 0 };
        events.push(trade(
            venues[which % 2],
            &symbols[which / 2],
            t - jitter - late,
            prices[which],
            0.01 + next(),
            if next() < 0.5 {
                AggressorSide::Buy
            } else {
                AggressorSide::Sell
            },
        ));
        if n == count / 3 {
            events.push(status(Exchange::Okx, None, t, FeedState::Disconnected));
        }
        if n == count / 3 + 60 {
            events.push(status(Exchange::Okx, None, t, FeedState::Subscribed));
        }
    }
    events
}

/// Feeds every event to `op` and returns what it emitted.
pub fn run_all(op: &mut impl Operator, events: &[Event]) -> Vec<Event> {
    let mut out = Vec::new();
    for e in events {
        op.on_event(e, &mut out);
    }
    out
}

/// The `ema_cross` signal rule (EMA 12 crossing EMA 26), as the body of a rules table.
pub const EMA_CROSS: &str =
    "name = \"ema_cross\"\nkind = \"crossover\"\nfast = \"ema_12\"\nslow = \"ema_26\"\n";

/// The `rsi_extremes` signal rule (RSI 14 above 70 or below 30), as the body of a rules table.
pub const RSI_EXTREMES: &str =
    "name = \"rsi_extremes\"\nkind = \"threshold\"\nvalue = \"rsi_14\"\nabove = 70\nbelow = 30\n";

/// The `bollinger_break` signal rule (close beyond the 20-bar, 2-sigma bands), as the body of a rules
/// table.
pub const BOLLINGER_BREAK: &str = "name = \"bollinger_break\"\nkind = \"band_break\"\n\
     upper = \"bbands_20_2_upper\"\nlower = \"bbands_20_2_lower\"\n";

/// The `volume_spike` signal rule: volume above `factor` times the mean of the last `bars` bars.
pub fn volume_spike(factor: f64, bars: u32) -> String {
    format!(
        "name = \"volume_spike\"\nkind = \"volume_spike\"\nfactor = {factor:?}\nbars = {bars}\n"
    )
}

/// The `venue_spread` signal rule: venues' mid prices `bps` apart, on quotes at most 2 s old.
pub fn venue_spread(bps: u32) -> String {
    format!("name = \"venue_spread\"\nkind = \"spread\"\nbps = {bps}\nfreshness = \"2s\"\n")
}

/// The `feed_down` signal rule: a feed without data for `window`.
pub fn feed_down(window: &str) -> String {
    format!("name = \"feed_down\"\nkind = \"feed_health\"\nwindow = \"{window}\"\n")
}

/// Rule bodies as an array of tables named `header` (`rules` in a signal config, `operators.<node>.rules`
/// in a pipeline file).
pub fn rule_tables(header: &str, bodies: &[&str]) -> String {
    bodies
        .iter()
        .map(|body| format!("\n[[{header}]]\n{body}"))
        .collect()
}
