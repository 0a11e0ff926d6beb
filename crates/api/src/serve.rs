//! Running the API: reads the key store (and again every `key_reload`), binds `listen`, and serves until
//! the shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::keys::{KeyRing, KeyStore, spawn_reload};
use crate::{ApiConfig, AppState, Cache, Error, router};

/// Serves the API on `config.listen` over `cache` until `shutdown` completes. For the binary's
/// `tickstream serve`.
pub async fn serve(
    config: ApiConfig,
    cache: Cache,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    config.validate()?;
    let store = KeyStore::open(&config.keys)?;
    let keys = KeyRing::default();
    let reload = spawn_reload(store, keys.clone(), config.key_reload).await?;
    tracing::info!(keys = keys.len(), "API keys loaded");
    let listen = config.listen;
    let state = AppState::new(config, cache, keys)?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| Error::Io {
            path: listen.to_string(),
            source,
        })?;
    let result = serve_listener(listener, state, shutdown).await;
    reload.abort();
    result
}

/// Serves `state` on an already bound listener (tests and embedding use port 0).
pub async fn serve_listener(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let address = listener.local_addr().map_err(|source| Error::Io {
        path: "listener".into(),
        source,
    })?;
    tracing::info!(%address, "API listening");
    let upkeep = tokio::spawn({
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            for round in 0u64.. {
                tick.tick().await;
                state.metrics().run_upkeep();
                if round % 12 == 11 {
                    state.rate_limits().forget_idle();
                }
            }
        }
    });
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| Error::Io {
            path: address.to_string(),
            source,
        });
    upkeep.abort();
    result
}
