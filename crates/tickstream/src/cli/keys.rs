//! `tickstream keys create|list|revoke|rotate`: API key administration on the configured key store. A new
//! key's text is printed once; only its SHA-256 hash is stored.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tickstream_api::http::system_clock;
use tickstream_api::keys::{ApiKey, IssuedKey, KeyStore, KeyStoreConfig, NewKey, Scope};

use super::serve::{ServeArgs, ServeConfig, exit_code};

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// The `serve` settings file whose `[api.keys]` names the key store.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The key file (default keys.json), in place of the configured key store.
    #[arg(long, global = true)]
    pub keys: Option<PathBuf>,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Make a key and print it (the only time it is shown).
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: read, stream, admin.
        #[arg(long, value_delimiter = ',', default_value = "read")]
        scopes: Vec<Scope>,
        /// The rate-limit tier (a name from the API's tiers).
        #[arg(long, default_value = "free")]
        tier: String,
        /// Expire after this long (for example 90d).
        #[arg(long, value_parser = tickstream_model::parse_duration)]
        expires_in: Option<Duration>,
    },
    /// List the keys (never their text).
    List,
    /// Revoke a key; every API instance refuses it within a second.
    Revoke { id: String },
    /// Make a new key like this one and let this one expire after the overlap.
    Rotate {
        id: String,
        #[arg(long, default_value = "24h", value_parser = tickstream_model::parse_duration)]
        overlap: Duration,
    },
}

/// The key store and the tier names of the settings.
fn store(args: &KeysArgs) -> anyhow::Result<(KeyStore, Vec<String>)> {
    let serve = ServeArgs {
        config: args.config.clone(),
        listen: None,
        redis_url: None,
        keys: args.keys.clone(),
    };
    let api = ServeConfig::load(&serve)?.api;
    let config: KeyStoreConfig = api.keys;
    Ok((KeyStore::open(&config)?, api.tiers.into_keys().collect()))
}

fn describe(key: &ApiKey) -> String {
    let scopes: Vec<String> = key
        .scopes
        .iter()
        .map(|s| format!("{s:?}").to_lowercase())
        .collect();
    let when =
        |t: Option<tickstream_model::UnixNanos>| t.map_or("-".to_owned(), |t| t.to_rfc3339());
    format!(
        "{}\t{}\t{}\t{}\texpires={}\trevoked={}",
        key.id,
        key.name,
        scopes.join(","),
        key.tier,
        when(key.expires_at),
        when(key.revoked_at)
    )
}

fn print_issued(issued: &IssuedKey) {
    println!("{}", issued.text);
    eprintln!(
        "created {} (store the key now: it is not shown again)",
        describe(&issued.key)
    );
}

pub fn run(args: KeysArgs) -> ExitCode {
    let result = super::block_on(async {
        let (store, tiers) = store(&args)?;
        let now = system_clock();
        match &args.command {
            KeysCommand::Create {
                name,
                scopes,
                tier,
                expires_in,
            } => {
                if !tiers.contains(tier) {
                    anyhow::bail!(
                        "tier: unknown {tier:?}; the settings have: {}",
                        tiers.join(", ")
                    );
                }
                let new = NewKey {
                    name: name.clone(),
                    scopes: scopes.iter().copied().collect::<BTreeSet<Scope>>(),
                    tier: tier.clone(),
                    expires_at: expires_in.map(|d| now.saturating_add(d)),
                };
                print_issued(&store.create(new, now).await?);
            }
            KeysCommand::List => {
                for key in store.list().await? {
                    let state = if key.is_active(now) {
                        "active"
                    } else {
                        "inactive"
                    };
                    println!("{}\t{state}", describe(&key));
                }
            }
            KeysCommand::Revoke { id } => {
                let key = store.revoke(id, now).await?;
                eprintln!("revoked {}", describe(&key));
            }
            KeysCommand::Rotate { id, overlap } => {
                let issued = store.rotate(id, *overlap, now).await?;
                print_issued(&issued);
                eprintln!(
                    "{id} expires at {}",
                    now.saturating_add(*overlap).to_rfc3339()
                );
            }
        }
        Ok(())
    });
    exit_code(result)
}
