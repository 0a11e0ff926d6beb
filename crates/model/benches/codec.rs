//! The Kafka message codec: an event written to and read from its JSON (the committed examples in
//! `schemas/examples/`), and a `Decimal` parsed from and printed to text, in operations/s on one core.
//!
//! `cargo bench -p tickstream-model --bench codec`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tickstream_model::{Decimal, Event};

fn example(kind: &str) -> String {
    let path = format!(
        "{}/../../schemas/examples/{kind}.v1.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("the example is committed")
}

fn events(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_json");
    g.throughput(Throughput::Elements(1));
    for kind in ["trade", "quote", "book", "bar", "indicator"] {
        let event: Event = serde_json::from_str(&example(kind)).expect("the example reads");
        let text = serde_json::to_vec(&event).expect("the event writes");
        g.bench_function(format!("write_{kind}"), |b| {
            let mut out = Vec::with_capacity(1024);
            b.iter(|| {
                out.clear();
                serde_json::to_writer(&mut out, black_box(&event)).expect("writes");
                black_box(&out);
            })
        });
        g.bench_function(format!("read_{kind}"), |b| {
            b.iter(|| black_box(serde_json::from_slice::<Event>(black_box(&text)).expect("reads")))
        });
    }
    g.finish();
}

fn decimals(c: &mut Criterion) {
    let mut g = c.benchmark_group("decimal");
    g.throughput(Throughput::Elements(1));
    for text in ["97000.10", "0.00001230", "123456789012.12345678"] {
        let value: Decimal = text.parse().expect("a decimal");
        g.bench_function(format!("parse_{text}"), |b| {
            b.iter(|| black_box(black_box(text).parse::<Decimal>().expect("parses")))
        });
        g.bench_function(format!("print_{text}"), |b| {
            let mut out = String::with_capacity(64);
            b.iter(|| {
                use std::fmt::Write;
                out.clear();
                let _ = write!(out, "{}", black_box(value));
                black_box(&out);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, events, decimals);
criterion_main!(benches);
