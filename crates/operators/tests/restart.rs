//! Restart test: the whole processing chain (time bars → indicators → signals) is stopped mid-stream, its
//! state saved as JSON text, fresh operators are built from the same configuration and restored, and the
//! output continues exactly as an uninterrupted run's.

mod common;

use tickstream_model::{Event, Exchange, Interval};
use tickstream_operators::{
    Indicators, IndicatorsConfig, Operator, SignalConfig, Signals, TimeBars, TimeBarsConfig,
};

use common::{
    BOLLINGER_BREAK, EMA_CROSS, RSI_EXTREMES, feed_down, market, quote, rule_tables, venue_spread,
    volume_spike,
};

/// The MACD line crossing its signal line, as the body of a rules table.
const MACD_CROSS: &str = "name = \"macd_cross\"\nkind = \"crossover\"\nfast = \"macd_12_26_9\"\n\
     slow = \"macd_12_26_9_signal\"\n";

fn rules() -> String {
    rule_tables(
        "rules",
        &[
            EMA_CROSS,
            MACD_CROSS,
            RSI_EXTREMES,
            BOLLINGER_BREAK,
            &volume_spike(2.5, 20),
            &venue_spread(3),
            &feed_down("3s"),
        ],
    )
}

struct Chain {
    bars: TimeBars,
    indicators: Indicators,
    signals: Signals,
}

impl Chain {
    fn new() -> Chain {
        let bars = TimeBarsConfig {
            intervals: vec![Interval::S1, Interval::S15, Interval::M1],
            composite: true,
            ..TimeBarsConfig::default()
        };
        Chain {
            bars: TimeBars::new(bars).unwrap(),
            indicators: Indicators::new(IndicatorsConfig::default()).unwrap(),
            signals: Signals::new(toml::from_str::<SignalConfig>(&rules()).unwrap()).unwrap(),
        }
    }

    /// Routes one input event through the chain as a runtime would; returns everything emitted.
    fn feed(&mut self, event: &Event, out: &mut Vec<Event>) {
        let mut bars = Vec::new();
        self.bars.on_event(event, &mut bars);
        self.signals.on_event(event, out);
        for bar in &bars {
            let mut rows = Vec::new();
            self.indicators.on_event(bar, &mut rows);
            self.signals.on_event(bar, out);
            for row in &rows {
                self.signals.on_event(row, out);
            }
            out.push(bar.clone());
            out.extend(rows);
        }
    }

    fn checkpoint(&self) -> String {
        let state = serde_json::json!({
            "bars": self.bars.save_state().unwrap(),
            "indicators": self.indicators.save_state().unwrap(),
            "signals": self.signals.save_state().unwrap(),
        });
        serde_json::to_string(&state).unwrap()
    }

    fn restored(checkpoint: &str) -> Chain {
        let state: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(checkpoint).unwrap();
        let mut chain = Chain::new();
        chain.bars.restore_state(&state["bars"]).unwrap();
        chain
            .indicators
            .restore_state(&state["indicators"])
            .unwrap();
        chain.signals.restore_state(&state["signals"]).unwrap();
        chain
    }
}

/// Trades on two venues with a quote beside every third trade and a feed outage.
fn input() -> Vec<Event> {
    let mut events = Vec::new();
    for (n, event) in market(42, 30_000).into_iter().enumerate() {
        if n % 3 == 0
            && let Event::Trade(t) = &event
        {
            let p = t.price.to_f64();
            let spread = if t.exchange == Exchange::Okx {
                0.02
            } else {
                0.05
            };
            events.push(quote(
                t.exchange,
                &t.symbol,
                t.ts_event.0,
                p * (1.0 - spread / 100.0),
                p * (1.0 + spread / 100.0),
            ));
        }
        events.push(event);
    }
    events
}

#[test]
fn a_restarted_chain_continues_exactly_like_an_uninterrupted_one() {
    let events = input();
    let mut whole = Vec::new();
    let mut chain = Chain::new();
    for e in &events {
        chain.feed(e, &mut whole);
    }
    let count = |kind: fn(&Event) -> bool| whole.iter().filter(|e| kind(e)).count();
    assert!(count(|e| matches!(e, Event::Bar(_))) > 1_000);
    assert!(count(|e| matches!(e, Event::Indicator(_))) > 1_000);
    for rule in [
        "ema_cross",
        "macd_cross",
        "rsi_extremes",
        "bollinger_break",
        "volume_spike",
        "venue_spread",
        "feed_down",
    ] {
        assert!(
            whole
                .iter()
                .any(|e| matches!(e, Event::Signal(s) if s.rule == rule)),
            "{rule} never fired"
        );
    }

    for cut in [1, events.len() / 3, events.len() / 2 + 7, events.len() - 5] {
        let mut out = Vec::new();
        let mut first = Chain::new();
        for e in &events[..cut] {
            first.feed(e, &mut out);
        }
        let checkpoint = first.checkpoint();
        drop(first);
        let mut second = Chain::restored(&checkpoint);
        for e in &events[cut..] {
            second.feed(e, &mut out);
        }
        assert_eq!(out.len(), whole.len(), "cut at {cut}");
        assert!(out == whole, "cut at {cut}: output differs");
    }
}
