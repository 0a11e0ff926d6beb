//! `/v1/stream`: a WebSocket on which a client subscribes to channels (`trades`, `quotes`, `bars`,
//! `indicators`, `signals`) for symbols and receives `{"channel", "data"}` pushes. A client that falls
//! behind the update broadcast, or cannot take a message in time, is disconnected with a reason.

use std::collections::{BTreeSet, HashSet};

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tickstream_model::{Exchange, Symbol};
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::problem::{ApiError, ErrorBody};
use crate::cache::{Channel, Update};

/// A client's message: `{"op": "subscribe", "channels": ["trades"], "symbols": ["BTC-USDT"]}`.
/// `"symbols": ["*"]` means every instrument; `exchanges` (optional) narrows to venues.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamRequest {
    /// `subscribe` or `unsubscribe`.
    pub op: String,
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub symbols: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub exchanges: Option<Vec<Exchange>>,
}

#[derive(Debug, Default)]
struct Subscription {
    channels: BTreeSet<Channel>,
    symbols: HashSet<Symbol>,
    all_symbols: bool,
    exchanges: Option<HashSet<Exchange>>,
}

impl Subscription {
    fn wants(&self, update: &Update) -> bool {
        self.channels.contains(&update.channel)
            && self
                .exchanges
                .as_ref()
                .is_none_or(|e| e.contains(&update.exchange))
            && (self.all_symbols
                || update
                    .symbol
                    .as_ref()
                    .is_some_and(|s| self.symbols.contains(s)))
    }

    /// Applies a client message and says what to answer.
    fn apply(&mut self, text: &str, max_symbols: usize) -> String {
        let request: StreamRequest = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => return reply_error("bad_message", &e.to_string()),
        };
        let mut symbols = Vec::with_capacity(request.symbols.len());
        let mut all = false;
        for text in &request.symbols {
            match text.as_str() {
                "*" => all = true,
                _ => match Symbol::parse(text) {
                    Ok(s) => symbols.push(s),
                    Err(e) => return reply_error("bad_message", &format!("symbols: {e}")),
                },
            }
        }
        match request.op.as_str() {
            "subscribe" => {
                if self.symbols.len() + symbols.len() > max_symbols {
                    return reply_error(
                        "too_many_symbols",
                        &format!("at most {max_symbols} symbols per connection"),
                    );
                }
                self.channels.extend(&request.channels);
                self.symbols.extend(symbols);
                self.all_symbols |= all;
                if let Some(exchanges) = request.exchanges {
                    self.exchanges
                        .get_or_insert_with(HashSet::new)
                        .extend(exchanges);
                }
            }
            "unsubscribe" => {
                for channel in &request.channels {
                    self.channels.remove(channel);
                }
                for symbol in &symbols {
                    self.symbols.remove(symbol);
                }
                self.all_symbols &= !all;
            }
            other => {
                return reply_error(
                    "bad_message",
                    &format!("op: unknown {other:?}; expected subscribe or unsubscribe"),
                );
            }
        }
        let mut symbols: Vec<&str> = self.symbols.iter().map(Symbol::as_str).collect();
        if self.all_symbols {
            symbols.push("*");
        }
        symbols.sort_unstable();
        serde_json::json!({ "type": "subscribed", "channels": self.channels, "symbols": symbols })
            .to_string()
    }
}

fn reply_error(code: &str, message: &str) -> String {
    serde_json::json!({ "type": "error", "code": code, "message": message }).to_string()
}

/// Upgrades to a WebSocket. Send `{"op":"subscribe","channels":["trades","bars"],"symbols":["BTC-USDT"]}`;
/// pushes are `{"channel":"trades","data":{trade.v1}}`. A client that falls behind is closed with code
/// 1008 and a reason.
#[utoipa::path(get, path = "/v1/stream", tag = "stream", security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, description = "Not a WebSocket upgrade request", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)
    ))]
pub(crate) async fn stream(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(upgrade) => upgrade
            .on_upgrade(move |socket| run(socket, state))
            .into_response(),
        Err(e) => ApiError::new(StatusCode::BAD_REQUEST, "websocket_required", e.body_text())
            .into_response(),
    }
}

async fn run(socket: WebSocket, state: AppState) {
    let shared = &state.0;
    let timeout = shared.config.ws_send_timeout;
    let (mut sink, mut source) = socket.split();
    let mut updates = shared.cache.subscribe();
    let mut subscription = Subscription::default();
    loop {
        let outgoing = tokio::select! {
            incoming = source.next() => match incoming {
                Some(Ok(Message::Text(text))) => subscription.apply(&text, shared.config.ws_max_symbols),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            update = updates.recv() => match update {
                Ok(update) if subscription.wants(&update) => {
                    format!(r#"{{"channel":"{}","data":{}}}"#, update.channel.as_str(), update.json.get())
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    shared.metrics.stream_disconnect("slow_consumer");
                    let reason = format!("slow consumer: {missed} updates missed; reconnect and read less");
                    let frame = CloseFrame { code: close_code::POLICY, reason: Utf8Bytes::from(reason) };
                    let _ = tokio::time::timeout(timeout, sink.send(Message::Close(Some(frame)))).await;
                    return;
                }
                Err(RecvError::Closed) => {
                    let frame = CloseFrame { code: close_code::AWAY, reason: Utf8Bytes::from_static("server shutting down") };
                    let _ = tokio::time::timeout(timeout, sink.send(Message::Close(Some(frame)))).await;
                    return;
                }
            },
        };
        match tokio::time::timeout(timeout, sink.send(Message::Text(Utf8Bytes::from(outgoing))))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                shared.metrics.stream_disconnect("send_timeout");
                tracing::debug!("stream client did not take a message in time; disconnected");
                return;
            }
        }
    }
}
