//! `RestClient`: the one client for the venues' REST calls (book snapshots, instrument metadata), over
//! `reqwest` with rustls. It bounds each request in time and its body in size, and on a rate-limit
//! answer (429, or Binance's 418) waits the `Retry-After` seconds the venue asks for before trying
//! again, a bounded number of times.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, RETRY_AFTER};

use crate::Error;

/// The largest response body accepted by default, as before the client was reqwest (a 5000-level
/// snapshot is well under 1 MiB; an `exchangeInfo` for every Binance symbol is a few MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Rate-limited requests tried again, at most, after waiting as asked.
const RATE_LIMIT_RETRIES: u32 = 2;
/// The longest `Retry-After` waited out; a venue asking for longer (a ban) is an error at once.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The most of an error body quoted in the error.
const ERROR_BODY_QUOTE: usize = 200;

/// A REST client for one kind of call: its timeout (connect and whole request) and body size cap.
#[derive(Debug, Clone)]
pub struct RestClient {
    client: reqwest::Client,
    max_body_bytes: usize,
}

fn http_error(url: &str, message: impl Into<String>) -> Error {
    Error::Http {
        url: url.to_owned(),
        message: message.into(),
    }
}

impl RestClient {
    /// A client whose connection and whole request (body included) each finish within `timeout`, and
    /// whose bodies are at most `max_body_bytes`.
    pub fn new(timeout: Duration, max_body_bytes: usize) -> Result<RestClient, Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent("tickstream")
            .build()
            .map_err(|e| http_error("", format!("http client: {e}")))?;
        Ok(RestClient {
            client,
            max_body_bytes,
        })
    }

    /// `GET url` and the body as text. A 429 or 418 with a `Retry-After` of at most a minute is waited
    /// out and tried again, twice at most; any other status than 200 is an error.
    pub async fn get_text(&self, url: &str) -> Result<String, Error> {
        let mut retries = 0;
        loop {
            let response = self
                .client
                .get(url)
                .header(ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| http_error(url, request_error(&e)))?;
            let status = response.status();
            if status == StatusCode::OK {
                return self.body_text(url, response).await;
            }
            if status != StatusCode::TOO_MANY_REQUESTS && status.as_u16() != 418 {
                let body = self.body_text(url, response).await.unwrap_or_default();
                let quote: String = body.chars().take(ERROR_BODY_QUOTE).collect();
                return Err(http_error(url, format!("status {status}: {quote}")));
            }
            let wait = retry_after(&response);
            match wait {
                Some(wait) if wait <= MAX_RETRY_AFTER && retries < RATE_LIMIT_RETRIES => {
                    tracing::warn!(url, %status, retry_after = ?wait, "rate limited; waiting as asked");
                    retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Some(wait) if wait > MAX_RETRY_AFTER => {
                    return Err(http_error(
                        url,
                        format!(
                            "rate limited ({status}), asked to wait {wait:?}, longer than {MAX_RETRY_AFTER:?}"
                        ),
                    ));
                }
                Some(_) => {
                    return Err(http_error(
                        url,
                        format!("rate limited ({status}) after {retries} retries"),
                    ));
                }
                None => {
                    return Err(http_error(
                        url,
                        format!("rate limited ({status}) without a Retry-After in seconds"),
                    ));
                }
            }
        }
    }

    /// The body, read chunk by chunk and abandoned as soon as it passes the cap.
    async fn body_text(&self, url: &str, mut response: reqwest::Response) -> Result<String, Error> {
        let too_large = || {
            http_error(
                url,
                format!("response body larger than {} bytes", self.max_body_bytes),
            )
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_body_bytes as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| http_error(url, request_error(&e)))?
        {
            if body.len() + chunk.len() > self.max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        String::from_utf8(body).map_err(|e| http_error(url, format!("body is not UTF-8: {e}")))
    }
}

/// `Retry-After` as a number of seconds (the form the venues send), if present.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let text = response.headers().get(RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// What went wrong with a request, with its causes (reqwest's own message is only the outermost).
fn request_error(error: &reqwest::Error) -> String {
    let mut message = if error.is_timeout() {
        "no response within the timeout".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server on 127.0.0.1 answering its n-th request with `responses[n]` (the last one from then on);
    /// its URL and the count of requests it answered.
    async fn server(responses: Vec<String>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let n = count.fetch_add(1, Ordering::SeqCst);
                let response = &responses[n.min(responses.len() - 1)];
                let _ = tcp.write_all(response.as_bytes()).await;
                let _ = tcp.shutdown().await;
            }
        });
        (url, served)
    }

    fn response(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    fn chunked(body: &str) -> String {
        let chunks: String = body
            .as_bytes()
            .chunks(100)
            .map(|c| format!("{:x}\r\n{}\r\n", c.len(), String::from_utf8_lossy(c)))
            .collect();
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunks}0\r\n\r\n"
        )
    }

    fn client(max_body_bytes: usize) -> RestClient {
        RestClient::new(Duration::from_secs(5), max_body_bytes).unwrap()
    }

    #[tokio::test]
    async fn bodies_up_to_the_cap_are_read_and_larger_ones_stop_with_an_error() {
        let body = "x".repeat(1000);
        let (url, _) = server(vec![response("200 OK", "", &body)]).await;
        assert_eq!(client(1000).get_text(&url).await.unwrap(), body);
        let error = client(999).get_text(&url).await.unwrap_err().to_string();
        assert!(error.contains("larger than 999 bytes"), "{error}");
        // Without a length, the cap is found while streaming.
        let (url, _) = server(vec![chunked(&body)]).await;
        assert_eq!(client(1000).get_text(&url).await.unwrap(), body);
        let error = client(999).get_text(&url).await.unwrap_err().to_string();
        assert!(error.contains("larger than 999 bytes"), "{error}");
    }

    #[tokio::test]
    async fn a_rate_limit_is_waited_out_as_asked_then_tried_again() {
        let (url, served) = server(vec![
            response("429 Too Many Requests", "Retry-After: 1\r\n", "{}"),
            response("200 OK", "", "{\"ok\":true}"),
        ])
        .await;
        let started = std::time::Instant::now();
        assert_eq!(client(1000).get_text(&url).await.unwrap(), "{\"ok\":true}");
        assert!(started.elapsed() >= Duration::from_secs(1));
        assert_eq!(served.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn rate_limits_without_retry_after_or_past_the_retries_are_errors() {
        let (url, served) = server(vec![response("429 Too Many Requests", "", "{}")]).await;
        let error = client(1000).get_text(&url).await.unwrap_err().to_string();
        assert!(error.contains("without a Retry-After"), "{error}");
        assert_eq!(served.load(Ordering::SeqCst), 1);

        let (url, served) = server(vec![response(
            "418 I'm a teapot",
            "Retry-After: 0\r\n",
            "{}",
        )])
        .await;
        let error = client(1000).get_text(&url).await.unwrap_err().to_string();
        assert!(error.contains("after 2 retries"), "{error}");
        assert_eq!(served.load(Ordering::SeqCst), 3);

        let (url, _) = server(vec![response(
            "418 I'm a teapot",
            "Retry-After: 7200\r\n",
            "{}",
        )])
        .await;
        let error = client(1000).get_text(&url).await.unwrap_err().to_string();
        assert!(error.contains("asked to wait 7200s"), "{error}");
    }

    #[tokio::test]
    async fn other_statuses_are_errors_quoting_the_body() {
        let (url, _) = server(vec![response(
            "400 Bad Request",
            "",
            "{\"code\":-1121,\"msg\":\"Invalid symbol.\"}",
        )])
        .await;
        let error = client(1000).get_text(&url).await.unwrap_err().to_string();
        assert!(
            error.contains("400") && error.contains("Invalid symbol."),
            "{error}"
        );
    }
}
