//! The TLS client configuration the websocket connections share: the Mozilla roots from
//! `webpki-roots` and the `ring` provider.

use std::sync::Arc;

use rustls::ClientConfig;

use crate::Error;

/// A TLS client configuration with the Mozilla roots from `webpki-roots` and the `ring` provider.
pub fn tls_config() -> Result<Arc<ClientConfig>, Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Connect {
                url: String::new(),
                message: format!("tls: {e}"),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}
