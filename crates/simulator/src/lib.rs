//! The exchange simulator: a local websocket server speaking Binance spot (`/binance/stream`, plus the
//! REST depth snapshot at `/binance/api/v3/depth` and the instrument list at
//! `/binance/api/v3/exchangeInfo`), Coinbase Advanced Trade (`/coinbase`, plus its
//! product list at `/coinbase/api/v3/brokerage/market/products`), the Coinbase
//! Exchange feed (`/coinbase-exchange`), Kraken v2 (`/kraken`), OKX v5 (`/okx`), Bitstamp v2
//! (`/bitstamp`, plus `/bitstamp/api/v2/order_book/<pair>/`) and Bybit v5 (`/bybit/v5/public/spot` and
//! `/linear`) exactly as the parsers expect, driven by a seeded random market, with faults injected on
//! command.

pub mod binance;
pub mod bitstamp;
mod book;
pub mod bybit;
pub mod coinbase;
mod error;
pub mod kraken;
pub mod market;
pub mod okx;
pub mod symbols;
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

pub use error::Error;
use market::{Market, Step};

/// A fault, applied to every connection open when it is injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Close the TCP connection without a websocket close frame.
    Drop,
    /// Send nothing more (no data, no heartbeats, no pings) on the open connections.
    Silence,
    /// Leave out the next book update (a sequence gap on the client's side).
    SkipSequence,
    /// A text frame that is not JSON.
    Garbage,
    /// A text frame of this many bytes.
    Oversized(usize),
    /// The venue's reconnect request: Binance `serverShutdown` then a close; Coinbase a close 1001.
    Reconnect,
    /// Stop reading the client's frames (its pings and requests) for this long.
    Stall(Duration),
    /// Send a wrong checksum with the next book update (venues whose books carry one: Kraken).
    CorruptChecksum,
    /// The venue restarts its book sequence, as its documentation says it may: OKX's next update has a
    /// `seqId` below its `prevSeqId`; Bybit's next delta has `u = 1` and carries the whole book.
    SequenceReset,
}

/// What the simulator is started with.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Everything the market does follows from the seed.
    pub seed: u64,
    /// Time between two steps of each market, which are spread over it in slices; zero steps every
    /// market back to back, as fast as the slowest connection takes the steps (see
    /// [`Simulator::set_tick`]).
    pub tick: Duration,
}

/// Steps a connection may have queued before a simulator stepping back to back waits for it.
const MAX_RATE_BACKLOG: usize = STEP_QUEUE / 4;
/// Steps buffered per connection; a connection further behind misses steps (a gap on its side).
const STEP_QUEUE: usize = 4096;
/// How often a paced simulator waiting for its next step looks for a change of pace.
const PACE_RECHECK: Duration = Duration::from_millis(50);
/// The shortest time between two slices of a paced simulator's steps.
const SLICE: Duration = Duration::from_millis(1);
/// A paced simulator this far behind its schedule starts the schedule again from now instead of
/// catching up in a burst.
const MAX_CATCH_UP: Duration = Duration::from_secs(1);
/// Frames a connection gathers from the steps already queued for it before it writes them out together.
const WRITE_FRAMES: usize = 64;

impl Default for SimulatorConfig {
    fn default() -> SimulatorConfig {
        SimulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 1,
            tick: Duration::from_millis(50),
        }
    }
}

/// State shared by the server's connections.
#[derive(Debug)]
pub struct Shared {
    seed: u64,
    markets: Mutex<BTreeMap<String, Market>>,
    steps: broadcast::Sender<Arc<Step>>,
    faults: broadcast::Sender<Fault>,
    /// Fixed REST bodies by path (venue metadata fixtures).
    rest_bodies: Mutex<BTreeMap<String, String>>,
    /// Time between steps in nanoseconds; zero for back to back.
    tick_nanos: AtomicU64,
    /// Steps of every market taken so far.
    steps_taken: AtomicU64,
}

impl Shared {
    /// The state of a simulator whose markets all follow from `seed`. A protocol can also be driven
    /// with it directly, without a socket: its frames for subscriptions and market steps.
    pub fn new(seed: u64) -> Shared {
        Shared {
            seed,
            markets: Mutex::new(BTreeMap::new()),
            steps: broadcast::channel(STEP_QUEUE).0,
            faults: broadcast::channel(64).0,
            rest_bodies: Mutex::new(BTreeMap::new()),
            tick_nanos: AtomicU64::new(duration_nanos(SimulatorConfig::default().tick)),
            steps_taken: AtomicU64::new(0),
        }
    }

    /// The canonical symbols of the markets made so far.
    pub fn market_symbols(&self) -> Vec<String> {
        let markets = self.markets.lock().unwrap_or_else(PoisonError::into_inner);
        markets.keys().cloned().collect()
    }

    /// Runs `f` on the market of a canonical symbol, created on first use.
    pub fn with_market<T>(&self, symbol: &str, f: impl FnOnce(&mut Market) -> T) -> T {
        let mut markets = self.markets.lock().unwrap_or_else(PoisonError::into_inner);
        let market = markets
            .entry(symbol.to_owned())
            .or_insert_with(|| Market::new(symbol, self.seed));
        f(market)
    }

    /// Steps slice `slice` of a round of `slices` (the markets in order, in nearly equal shares) and
    /// moves on to the next; counts a step of every market when the round completes.
    fn step_slice(&self, slices: usize, slice: &mut usize) {
        let time_ms = tickstream_model::UnixNanos::now().0 / 1_000_000;
        let mut markets = self.markets.lock().unwrap_or_else(PoisonError::into_inner);
        let slices = slices.max(1);
        if *slice >= slices {
            *slice = 0;
        }
        let (from, to) = (
            *slice * markets.len() / slices,
            (*slice + 1) * markets.len() / slices,
        );
        for market in markets.values_mut().skip(from).take(to - from) {
            // Sent under the lock so that a snapshot taken under it is never followed by an older step.
            let _ = self.steps.send(Arc::new(market.step(time_ms)));
        }
        *slice += 1;
        if *slice == slices {
            *slice = 0;
            self.steps_taken.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn tick(&self) -> Duration {
        Duration::from_nanos(self.tick_nanos.load(Ordering::Relaxed))
    }

    /// Steps every market at the current pace, forever; a change of pace takes effect within
    /// [`PACE_RECHECK`]. At a pace, each tick's steps are spread evenly over the tick in slices of at
    /// least [`SLICE`], as markets update independently, rather than all at the start of the tick.
    async fn step_forever(&self) {
        let mut due = Instant::now();
        let mut slice = 0;
        loop {
            let tick = self.tick();
            if tick.is_zero() {
                // Back to back, while every connection keeps up.
                while self.steps.len() > MAX_RATE_BACKLOG {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                // Every market at once: a round of one slice.
                slice = 0;
                self.step_slice(1, &mut slice);
                tokio::task::yield_now().await;
                due = Instant::now();
                continue;
            }
            let markets = self
                .markets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len();
            let slices = (tick.as_nanos() / SLICE.as_nanos()).clamp(1, markets.max(1) as u128);
            let every = tick / slices as u32;
            let now = Instant::now();
            if due > now + every {
                due = now + every;
            }
            if now > due + MAX_CATCH_UP {
                due = now;
            }
            if now >= due {
                self.step_slice(slices as usize, &mut slice);
                due += every;
            } else {
                tokio::time::sleep_until(due.min(now + PACE_RECHECK)).await;
            }
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Simulator {
    /// Binds and starts serving.
    pub async fn start(config: SimulatorConfig) -> Result<Simulator, Error> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Io {
                context: format!("binding {}", config.listen),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Io {
            context: "local address".into(),
            source,
        })?;
        let shared = Arc::new(Shared::new(config.seed));
        shared
            .tick_nanos
            .store(duration_nanos(config.tick), Ordering::Relaxed);
        let ticker = {
            let shared = shared.clone();
            tokio::spawn(async move { shared.step_forever().await })
        };
        let server = {
            let shared = shared.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    tokio::spawn(serve_connection(tcp, shared.clone()));
                }
            })
        };
        Ok(Simulator {
            addr,
            shared,
            tasks: vec![ticker, server],
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes the time between market steps from the next step on; zero steps back to back.
    pub fn set_tick(&self, tick: Duration) {
        self.shared
            .tick_nanos
            .store(duration_nanos(tick), Ordering::Relaxed);
    }

    /// Steps of every market taken since the start.
    pub fn steps_taken(&self) -> u64 {
        self.shared.steps_taken.load(Ordering::Relaxed)
    }

    /// The websocket base URL for a venue (`binance`, `coinbase`, `coinbase-exchange`).
    pub fn ws_url(&self, venue: &str) -> String {
        format!("ws://{}/{venue}", self.addr)
    }

    /// The REST base URL for a venue.
    pub fn rest_url(&self, venue: &str) -> String {
        format!("http://{}/{venue}", self.addr)
    }

    /// Applies a fault to every open connection.
    /// Answers `GET <path>` (any query) with `body`, e.g. a venue's instrument metadata:
    /// `sim.serve_rest("/binance/api/v3/exchangeInfo", fixture)`.
    pub fn serve_rest(&self, path: &str, body: String) {
        self.shared
            .rest_bodies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_owned(), body);
    }

    pub fn inject(&self, fault: Fault) {
        let _ = self.shared.faults.send(fault);
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A venue protocol as the simulator speaks it on one connection.
pub trait Protocol: Send {
    /// Answers a client frame (subscriptions); may send snapshots.
    fn on_client_text(&mut self, text: &str, shared: &Shared, out: &mut Vec<String>);
    /// Frames for a market step, for what the client subscribed to. `skip_book` leaves the book update
    /// out; returns whether one was left out.
    fn on_step(&mut self, step: &Step, skip_book: bool, out: &mut Vec<String>) -> bool;
    /// Frames sent every second (heartbeats).
    fn on_second(&mut self, out: &mut Vec<String>);
    /// The venue's reconnect request: frames to send, then the close frame.
    fn reconnect_request(&mut self, out: &mut Vec<String>) -> Option<CloseFrame>;
    /// How often the server pings, if it does.
    fn ping_every(&self) -> Option<Duration>;
    /// Makes the next book update carry a wrong checksum, where the venue sends one.
    fn corrupt_checksum(&mut self) {}
    /// Makes the next book update restart the venue's book sequence, where the venue does that.
    fn reset_sequence(&mut self) {}
}

async fn serve_connection(tcp: TcpStream, shared: Arc<Shared>) {
    let mut head = [0u8; 4096];
    let mut peeked = 0;
    for _ in 0..50 {
        peeked = tcp.peek(&mut head).await.unwrap_or(0);
        if peeked == 0 || head[..peeked].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let text = String::from_utf8_lossy(&head[..peeked]).to_ascii_lowercase();
    if !text.contains("upgrade: websocket") {
        serve_http(tcp, &shared).await;
        return;
    }
    let mut path = String::new();
    // The callback's error type is tungstenite's HTTP response, as its signature requires.
    #[allow(clippy::result_large_err)]
    let capture = |request: &Request, response: Response| {
        path = request.uri().path().to_owned();
        Ok(response)
    };
    // Clients send only subscriptions and pings. tungstenite zero-fills its whole read buffer before every
    // read, and this side is polled on every step: a small buffer keeps that cheap.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(tcp, capture, Some(config)).await
    else {
        return;
    };
    let faults = shared.faults.subscribe();
    match path.trim_end_matches('/') {
        "/binance/stream" | "/binance/ws" => {
            run_protocol(ws, shared, faults, binance::BinanceProtocol::default()).await
        }
        "/coinbase" => {
            run_protocol(ws, shared, faults, coinbase::AdvancedProtocol::default()).await
        }
        "/coinbase-exchange" => {
            run_protocol(ws, shared, faults, coinbase::ExchangeProtocol::default()).await
        }
        "/kraken" => run_protocol(ws, shared, faults, kraken::KrakenProtocol::default()).await,
        "/okx" => run_protocol(ws, shared, faults, okx::OkxProtocol::default()).await,
        "/bitstamp" => {
            run_protocol(ws, shared, faults, bitstamp::BitstampProtocol::default()).await
        }
        "/bybit/v5/public/spot" => {
            let protocol = bybit::BybitProtocol::new(bybit::Category::Spot);
            run_protocol(ws, shared, faults, protocol).await
        }
        "/bybit/v5/public/linear" => {
            let protocol = bybit::BybitProtocol::new(bybit::Category::Linear);
            run_protocol(ws, shared, faults, protocol).await
        }
        _ => {
            let mut ws = ws;
            let _ = ws.close(None).await;
        }
    }
}

/// One connection's loop: client frames, market steps, heartbeats, pings and faults.
async fn run_protocol<P: Protocol>(
    ws: WebSocketStream<TcpStream>,
    shared: Arc<Shared>,
    mut faults: broadcast::Receiver<Fault>,
    mut protocol: P,
) {
    let (mut sink, mut stream) = ws.split();
    let mut steps = shared.steps.subscribe();
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let ping_every = protocol.ping_every().unwrap_or(Duration::from_secs(3600));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut silent = false;
    let mut skip_book = false;
    let mut stalled_until: Option<Instant> = None;
    let mut out = Vec::new();
    loop {
        let stalled = stalled_until.is_some_and(|t| Instant::now() < t);
        let stall_end = stalled_until.unwrap_or_else(Instant::now);
        tokio::select! {
            message = stream.next(), if !stalled => match message {
                Some(Ok(Message::Text(text))) => protocol.on_client_text(text.as_str(), &shared, &mut out),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(stall_end), if stalled => stalled_until = None,
            step = steps.recv() => match step {
                Ok(step) if !silent => {
                    let mut step = Some(step);
                    // The steps already queued go out with this one, in one write.
                    while out.len() < WRITE_FRAMES {
                        match step.take() {
                            Some(step) => skip_book &= !protocol.on_step(&step, skip_book, &mut out),
                            None => match steps.try_recv() {
                                Ok(next) => step = Some(next),
                                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                                Err(_) => break,
                            },
                        }
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = second.tick(), if !silent => protocol.on_second(&mut out),
            _ = ping.tick(), if !silent && protocol.ping_every().is_some() => {
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
            fault = faults.recv() => match fault {
                Ok(Fault::Drop) | Err(broadcast::error::RecvError::Closed) => return,
                Ok(Fault::Silence) => silent = true,
                Ok(Fault::SkipSequence) => skip_book = true,
                Ok(Fault::Garbage) => out.push("}{ not json at all".to_owned()),
                Ok(Fault::Oversized(bytes)) => out.push(format!("{{\"padding\":\"{}\"}}", "x".repeat(bytes))),
                Ok(Fault::Reconnect) => {
                    let close = protocol.reconnect_request(&mut out);
                    for frame in out.drain(..) {
                        let _ = sink.send(Message::text(frame)).await;
                    }
                    let _ = sink.send(Message::Close(close)).await;
                    // The close handshake: until the client answers, so that no reset loses what was sent.
                    let answered = async {
                        while let Some(Ok(message)) = stream.next().await {
                            if message.is_close() {
                                break;
                            }
                        }
                    };
                    let _ = tokio::time::timeout(Duration::from_secs(2), answered).await;
                    return;
                }
                Ok(Fault::Stall(d)) => stalled_until = Some(Instant::now() + d),
                Ok(Fault::CorruptChecksum) => protocol.corrupt_checksum(),
                Ok(Fault::SequenceReset) => protocol.reset_sequence(),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
        }
        if out.is_empty() {
            continue;
        }
        for frame in out.drain(..) {
            if sink.feed(Message::text(frame)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

/// A close frame asking the client to come back (`1001 going away`).
pub fn going_away(reason: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::Away,
        reason: reason.to_owned().into(),
    }
}

/// The REST side: `GET /binance/api/v3/depth?symbol=BTCUSDT&limit=N`, `GET /binance/api/v3/exchangeInfo`,
/// `GET /bitstamp/api/v2/order_book/btcusd/`, `GET /coinbase/api/v3/brokerage/market/products`, and
/// the bodies given to [`Simulator::serve_rest`].
async fn serve_http(mut tcp: TcpStream, shared: &Shared) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 64 * 1024 {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let target = text
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let path = target.split('?').next().unwrap_or_default();
    let fixed = shared
        .rest_bodies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(path)
        .cloned();
    let body = fixed
        .or_else(|| binance::rest_response(&target, shared))
        .or_else(|| bitstamp::rest_response(&target, shared))
        .or_else(|| coinbase::rest_response(&target, shared));
    let (status, body) = match body {
        Some(body) => ("200 OK", body),
        None => (
            "404 Not Found",
            format!("{{\"code\":-1121,\"msg\":\"no such endpoint or symbol: {target}\"}}"),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_round_steps_every_market_once_over_its_slices() {
        let shared = Shared::new(7);
        let symbols: Vec<String> = (0..10).map(|i| format!("Q{i}-USD")).collect();
        for symbol in &symbols {
            shared.with_market(symbol, |_| ());
        }
        let mut steps = shared.steps.subscribe();
        let mut at = 0;
        let mut stepped = Vec::new();
        for slice in 0..4 {
            assert_eq!(
                shared.steps_taken.load(Ordering::Relaxed),
                0,
                "slice {slice}"
            );
            shared.step_slice(4, &mut at);
            let mut this_slice = 0;
            while let Ok(step) = steps.try_recv() {
                stepped.push(step.symbol.clone());
                this_slice += 1;
            }
            // Ten markets in four slices.
            assert_eq!(this_slice, [2, 3, 2, 3][slice], "slice {slice}");
        }
        assert_eq!(shared.steps_taken.load(Ordering::Relaxed), 1);
        let mut sorted = symbols.clone();
        sorted.sort();
        assert_eq!(stepped, sorted, "every market once, in order");
        shared.step_slice(4, &mut at);
        assert_eq!(
            steps.try_recv().unwrap().symbol,
            sorted[0],
            "the next round starts over"
        );
    }
}
