//! A load-test target: the API over an embedded cache holding the `schemas/examples` events, with keys from
//! the given key file, and the `pro` tier raised to one million requests per second (rate limiting stays on:
//! every request takes a token from its key's bucket).
//!
//! ```text
//! tickstream keys --keys /tmp/bench-keys.json create --name bench --tier pro
//! cargo run --release -p tickstream-api --example load_target -- /tmp/bench-keys.json 127.0.0.1:8088
//! wrk -t1 -c32 -d20s --latency -H "Authorization: Bearer $KEY" \
//!     'http://127.0.0.1:8088/v1/latest?exchange=coinbase&symbol=BTC-USD'
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use tickstream_api::keys::KeyStoreConfig;
use tickstream_api::rate_limit::TierConfig;
use tickstream_api::{ApiConfig, Cache, CacheConfig};
use tickstream_model::Event;

const EXAMPLES: [&str; 5] = [
    include_str!("../../../schemas/examples/trade.v1.json"),
    include_str!("../../../schemas/examples/quote.v1.json"),
    include_str!("../../../schemas/examples/bar.v1.json"),
    include_str!("../../../schemas/examples/indicator.v1.json"),
    include_str!("../../../schemas/examples/signal.v1.json"),
];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let keys = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: load_target KEY_FILE [ADDRESS]"))?,
    );
    let listen: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:8088").parse()?;
    let mut config = ApiConfig {
        listen,
        keys: KeyStoreConfig::File { path: keys },
        ..ApiConfig::default()
    };
    config.tiers.insert(
        "pro".into(),
        TierConfig {
            per_second: 1_000_000,
            burst: 1_000_000,
        },
    );
    tokio::runtime::Runtime::new()?.block_on(async {
        let cache = Cache::open(&CacheConfig::default())?;
        let mut events: Vec<Event> = Vec::new();
        for text in EXAMPLES {
            events.push(serde_json::from_str(text)?);
        }
        cache.write(&events).await;
        tickstream_api::serve(config, cache, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(())
    })
}
