//! `tickstream serve`: the HTTP/WebSocket API over the serving cache (embedded, or Redis when a URL is
//! given), with the settings of an optional TOML file (`[api]` and `[cache]` tables).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use tickstream_api::keys::KeyStoreConfig;
use tickstream_api::{ApiConfig, Cache, CacheConfig};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with `[api]` (listen, keys, tiers, ...) and `[cache]` (redis_url, caps) tables.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Serve from this Redis (`redis://host:port/db`) instead of the embedded cache.
    #[arg(long, env = "TICKSTREAM_REDIS_URL")]
    pub redis_url: Option<String>,
    /// The key file (default keys.json), in place of the configured key store.
    #[arg(long)]
    pub keys: Option<PathBuf>,
}

/// The `serve` settings file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    pub api: ApiConfig,
    pub cache: CacheConfig,
}

impl ServeConfig {
    /// The file's settings (defaults without a file), with the command line's overrides.
    pub fn load(args: &ServeArgs) -> anyhow::Result<ServeConfig> {
        let mut config = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => ServeConfig::default(),
        };
        if let Some(listen) = args.listen {
            config.api.listen = listen;
        }
        if let Some(url) = &args.redis_url {
            config.cache.redis_url = Some(url.clone());
        }
        if let Some(path) = &args.keys {
            config.api.keys = KeyStoreConfig::File { path: path.clone() };
        }
        config
            .api
            .validate()
            .map_err(|e| anyhow::anyhow!("api.{e}"))?;
        config
            .cache
            .validate()
            .map_err(|e| anyhow::anyhow!("cache.{e}"))?;
        Ok(config)
    }
}

/// Success, or the error with its causes on standard error.
pub fn exit_code(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    let result = super::block_on(async {
        let config = ServeConfig::load(&args)?;
        let cache = Cache::open(&config.cache)?;
        tickstream_api::serve(config.api, cache, super::stop_signal()).await?;
        Ok(())
    });
    exit_code(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_file_and_overrides() {
        let dir = std::env::temp_dir().join(format!("tickstream-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("serve.toml");
        std::fs::write(
            &file,
            "[api]\nlisten = \"127.0.0.1:9001\"\ndefault_tier = \"gold\"\n[api.tiers.gold]\nper_second = 5\nburst = 10\n\
             [api.keys]\nkind = \"file\"\npath = \"k.json\"\n[cache]\nbars_cap = 50\n",
        )
        .unwrap();
        let args = |config: Option<PathBuf>| ServeArgs {
            config,
            listen: None,
            redis_url: None,
            keys: None,
        };
        let loaded = ServeConfig::load(&args(Some(file.clone()))).unwrap();
        assert_eq!(loaded.api.listen.port(), 9001);
        assert_eq!(loaded.cache.bars_cap, 50);
        let overridden = ServeConfig::load(&ServeArgs {
            redis_url: Some("redis://127.0.0.1:6379".into()),
            keys: Some("other.json".into()),
            ..args(Some(file.clone()))
        })
        .unwrap();
        assert_eq!(
            overridden.cache.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(
            overridden.api.keys,
            KeyStoreConfig::File {
                path: "other.json".into()
            }
        );
        std::fs::write(&file, "[cache]\nbars_cap = 0\n").unwrap();
        let error = ServeConfig::load(&args(Some(file)))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("cache.bars_cap"), "{error}");
        assert_eq!(
            ServeConfig::load(&args(None))
                .unwrap()
                .api
                .listen
                .to_string(),
            "127.0.0.1:8080"
        );
    }
}
