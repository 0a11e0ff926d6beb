//! `/v1/stream` over a real socket: subscription, pushes, and a slow client closed with a reason.

mod common;

use std::time::Duration;

use common::app::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use tickstream_api::keys::Scope;
use tickstream_api::{ApiConfig, Cache, CacheConfig, serve_listener};
use tickstream_model::{Exchange, Interval};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn started(broadcast_capacity: usize) -> (App, String, std::net::SocketAddr) {
    let cache = Cache::open(&CacheConfig {
        broadcast_capacity,
        ..CacheConfig::default()
    })
    .unwrap();
    let app = app_over(ApiConfig::default(), cache);
    let (key, text) = issue("streamer", &[Scope::Stream], "standard");
    app.keys.replace(vec![key]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve_listener(
        listener,
        app.state.clone(),
        std::future::pending(),
    ));
    (app, text, address)
}

async fn connect(address: std::net::SocketAddr, key: &str) -> Socket {
    let mut request = format!("ws://{address}/v1/stream")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

async fn next_text(socket: &mut Socket) -> serde_json::Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn subscribers_get_the_channels_and_symbols_they_asked_for() {
    let (app, key, address) = started(64).await;
    let mut socket = connect(address, &key).await;
    socket
        .send(Message::text(
            r#"{"op":"subscribe","channels":["bars","trades"],"symbols":["ETH-USDT"]}"#,
        ))
        .await
        .unwrap();
    let reply = next_text(&mut socket).await;
    assert_eq!(reply["type"], "subscribed");
    assert_eq!(reply["channels"], serde_json::json!(["trades", "bars"]));

    app.cache
        .write(&[
            quote(Exchange::Okx, "ETH-USDT", T0),
            trade(Exchange::Okx, "BTC-USDT", T0, "1"),
            bar(Exchange::Okx, "ETH-USDT", Interval::M1, T0, 5.0),
        ])
        .await;
    let push = next_text(&mut socket).await;
    assert_eq!(
        push["channel"], "bars",
        "the quote and the other symbol's trade are not sent"
    );
    assert_eq!(push["data"]["type"], "bar");
    assert_eq!(push["data"]["close"], 5.0);

    socket
        .send(Message::text(r#"{"op":"dance"}"#))
        .await
        .unwrap();
    let reply = next_text(&mut socket).await;
    assert_eq!(
        (reply["type"].as_str(), reply["code"].as_str()),
        (Some("error"), Some("bad_message"))
    );
}

#[tokio::test]
async fn a_client_that_falls_behind_is_closed_with_a_reason() {
    let (app, key, address) = started(4).await;
    let mut socket = connect(address, &key).await;
    socket
        .send(Message::text(
            r#"{"op":"subscribe","channels":["trades"],"symbols":["*"]}"#,
        ))
        .await
        .unwrap();
    next_text(&mut socket).await;
    // More updates at once than the broadcast holds: the connection's task cannot keep up.
    let burst: Vec<_> = (0..64)
        .map(|i| trade(Exchange::Okx, "ETH-USDT", T0 + i, "1"))
        .collect();
    app.cache.write(&burst).await;
    let mut close = None;
    while let Some(message) = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
    {
        match message {
            Ok(Message::Close(frame)) => {
                close = frame;
                break;
            }
            Ok(_) => continue,
            Err(WsError::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let frame = close.expect("a close frame with a reason");
    assert_eq!(frame.code, CloseCode::Policy);
    assert!(
        frame.reason.starts_with("slow consumer"),
        "{}",
        frame.reason
    );
}
