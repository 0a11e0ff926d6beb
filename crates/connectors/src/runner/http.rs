//! A small HTTP/1.1 GET client for REST book snapshots (plain or TLS with the webpki roots and the `ring`
//! provider), and the TLS client configuration the websocket connections share.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;

/// The largest response body accepted (a 5000-level snapshot is well under 1 MiB).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

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

fn http_error(url: &str, message: impl Into<String>) -> Error {
    Error::Http {
        url: url.to_owned(),
        message: message.into(),
    }
}

/// `GET url` and the body as text; any status other than 200 is an error.
pub async fn get(url: &str, tls: &Arc<ClientConfig>, timeout: Duration) -> Result<String, Error> {
    tokio::time::timeout(timeout, get_inner(url, tls))
        .await
        .map_err(|_| http_error(url, format!("no response within {timeout:?}")))?
}

async fn get_inner(url: &str, tls: &Arc<ClientConfig>) -> Result<String, Error> {
    let parsed = url::Url::parse(url).map_err(|e| http_error(url, e.to_string()))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| http_error(url, "no host"))?
        .to_owned();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| http_error(url, "no port"))?;
    let target = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tickstream\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| http_error(url, e.to_string()))?;
    let raw = match parsed.scheme() {
        "http" => exchange(tcp, &request, url).await?,
        "https" => {
            let name =
                ServerName::try_from(host.clone()).map_err(|e| http_error(url, e.to_string()))?;
            let stream = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| http_error(url, format!("tls: {e}")))?;
            exchange(stream, &request, url).await?
        }
        other => return Err(http_error(url, format!("unsupported scheme {other}"))),
    };
    parse_response(&raw).map_err(|m| http_error(url, m))
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
    url: &str,
) -> Result<Vec<u8>, Error> {
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| http_error(url, e.to_string()))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() > MAX_RESPONSE_BYTES {
                    return Err(http_error(url, "response larger than 64 MiB"));
                }
            }
            // Servers that close without TLS close_notify: what arrived is complete if it parses.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(e) => return Err(http_error(url, e.to_string())),
        }
    }
    Ok(raw)
}

/// The body of a complete HTTP/1.1 response (`Content-Length`, chunked, or until close).
pub fn parse_response(raw: &[u8]) -> Result<String, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("incomplete response head")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "response head is not text")?;
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let decoded;
    if chunked {
        decoded = dechunk(body)?;
        body = &decoded;
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body = body.get(..len).ok_or("body shorter than Content-Length")?;
    }
    let text = String::from_utf8(body.to_vec()).map_err(|_| "body is not UTF-8")?;
    if status != "200" {
        let excerpt: String = text.chars().take(200).collect();
        return Err(format!("{status_line}: {excerpt}"));
    }
    Ok(text)
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk header")?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk header")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or("chunk shorter than its size")?);
        body = body.get(size + 2..).ok_or("chunk without its line end")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_with_length_chunks_and_errors() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(parse_response(plain).unwrap(), "{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=1\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), "{\"a\":1}");
        let error = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow";
        assert_eq!(
            parse_response(error).unwrap_err(),
            "HTTP/1.1 429 Too Many Requests: slow"
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }
}
