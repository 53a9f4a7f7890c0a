//! The Telemetry API (2022-07-01) of one environment, and its predecessor the Logs API
//! (2020-08-15): extensions subscribe during init with `PUT /2022-07-01/telemetry` (or
//! `PUT /2020-08-15/logs`), and archfn streams them the environment's platform events
//! (`platform.initStart` … `platform.report`, or the Logs API's `platform.start`, `platform.end`,
//! `platform.report`) and the function's log lines, in batches, over HTTP (a POST of a JSON
//! array) or TCP (newline-delimited JSON), to a listener in the environment.
//!
//! The listener is in the environment's own network namespace, so archfn connects from inside
//! it: `sandbox.localdomain` is the environment's loopback on both sides (inside, through the
//! environment's `/etc/hosts`), two environments of one function can listen on the same port,
//! and a destination reaches nothing the function itself could not.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archfn_sandbox::netns::NetworkNamespace;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

/// The kinds of telemetry an extension can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Category {
    /// `platform.*` events.
    Platform,
    /// The function's log lines.
    Function,
    /// Extensions' log lines.
    Extension,
}

impl Category {
    fn parse(s: &str) -> Option<Category> {
        match s {
            "platform" => Some(Category::Platform),
            "function" => Some(Category::Function),
            "extension" => Some(Category::Extension),
            _ => None,
        }
    }
}

/// How to reach a subscriber, inside its environment's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    /// POST a JSON array of events to this address, with this `Host` header and path.
    Http {
        addr: SocketAddr,
        host: String,
        path: String,
    },
    /// Write one JSON event per line to this address.
    Tcp(SocketAddr),
}

/// When a subscriber's buffer is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Buffering {
    max_items: usize,
    max_bytes: usize,
    timeout: Duration,
}

/// Which of the two subscription APIs a subscriber used: it decides the events' shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `PUT /2022-07-01/telemetry`.
    Telemetry,
    /// `PUT /2020-08-15/logs`; with schema 2021-03-18 it also gets `platform.runtimeDone`.
    Logs {
        /// Schema 2021-03-18 or later.
        runtime_done: bool,
    },
}

impl Api {
    /// The `errorType` of a bad subscription request.
    pub(crate) fn validation_error(self) -> &'static str {
        match self {
            Api::Telemetry => "ValidationError",
            Api::Logs { .. } => "Logs.ValidationError",
        }
    }

    /// The event of a subscription.
    fn subscription_event(self) -> &'static str {
        match self {
            Api::Telemetry => "platform.telemetrySubscription",
            Api::Logs { .. } => "platform.logsSubscription",
        }
    }

    /// `event` (in the Telemetry API's shapes) as this API sends it: zero, one or two events.
    fn translate(self, event: &Value) -> Vec<Value> {
        let Api::Logs { runtime_done } = self else {
            return vec![event.clone()];
        };
        let kind = event["type"].as_str().unwrap_or("");
        let record = &event["record"];
        let with = |kind: &str, record: Value| json!({ "time": event["time"], "type": kind, "record": record });
        match kind {
            "platform.initStart"
            | "platform.initRuntimeDone"
            | "platform.initReport"
            | "platform.telemetrySubscription" => Vec::new(),
            "platform.start" => vec![with(kind, json!({ "requestId": record["requestId"] }))],
            "platform.runtimeDone" => {
                let mut out = Vec::new();
                if runtime_done {
                    out.push(with(
                        kind,
                        json!({ "requestId": record["requestId"], "status": record["status"] }),
                    ));
                }
                out.push(with(
                    "platform.end",
                    json!({ "requestId": record["requestId"] }),
                ));
                out
            }
            "platform.report" => vec![with(
                kind,
                json!({ "requestId": record["requestId"], "metrics": record["metrics"] }),
            )],
            _ => vec![event.clone()],
        }
    }
}

/// A validated subscription request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription {
    api: Api,
    types: Vec<Category>,
    type_names: Vec<String>,
    buffering: Buffering,
    destination: Destination,
}

/// The bounds the Telemetry API accepts for `buffering` (minimum, default, maximum).
const MAX_ITEMS: (u64, u64, u64) = (1_000, 10_000, 10_000);
const MAX_BYTES: (u64, u64, u64) = (262_144, 262_144, 1_048_576);
const TIMEOUT_MS: (u64, u64, u64) = (25, 1_000, 30_000);

/// Events kept from the start of init for subscribers that have not subscribed yet.
const MAX_BACKLOG: usize = 1_000;

fn bounded(
    buffering: &Value,
    key: &str,
    (min, default, max): (u64, u64, u64),
) -> Result<u64, String> {
    match buffering.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "buffering.{key} must be an integer from {min} to {max}"
            )),
        },
    }
}

impl Subscription {
    /// Reads a subscription request body of `api` (the Logs API's schema version, read from the
    /// body, says whether it gets `platform.runtimeDone`); the error is the text of the API's
    /// validation error.
    pub(crate) fn parse(api: Api, body: &[u8]) -> Result<Subscription, String> {
        let doc: Value =
            serde_json::from_slice(body).map_err(|e| format!("request body is not JSON: {e}"))?;
        let version = doc.get("schemaVersion").and_then(Value::as_str);
        let api = match (api, version) {
            (Api::Telemetry, Some("2022-07-01" | "2022-12-13" | "2025-01-29")) => api,
            (Api::Telemetry, v) => {
                return Err(format!(
                    "schemaVersion {:?} is not supported: use 2022-07-01, 2022-12-13 or 2025-01-29",
                    v.unwrap_or("")
                ));
            }
            (Api::Logs { .. }, None | Some("2020-08-15")) => Api::Logs {
                runtime_done: false,
            },
            (Api::Logs { .. }, Some("2021-03-18")) => Api::Logs { runtime_done: true },
            (Api::Logs { .. }, Some(v)) => {
                return Err(format!(
                    "schemaVersion {v:?} is not supported: use 2020-08-15 or 2021-03-18"
                ));
            }
        };
        let type_names: Vec<String> = doc
            .get("types")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if type_names.is_empty() {
            return Err("types should not be empty".into());
        }
        let types = type_names
            .iter()
            .map(|t| {
                Category::parse(t).ok_or_else(|| {
                    format!("unknown type {t:?}: types are platform, function and extension")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let none = Value::Null;
        let b = doc.get("buffering").unwrap_or(&none);
        let buffering = Buffering {
            max_items: bounded(b, "maxItems", MAX_ITEMS)? as usize,
            max_bytes: bounded(b, "maxBytes", MAX_BYTES)? as usize,
            timeout: Duration::from_millis(bounded(b, "timeoutMs", TIMEOUT_MS)?),
        };
        let dest = doc.get("destination").unwrap_or(&none);
        let uri = dest.get("URI").and_then(Value::as_str).unwrap_or("");
        let parsed = reqwest::Url::parse(uri).map_err(|_| format!("URI {uri:?} is not a URI"))?;
        let Some(port) = parsed.port() else {
            return Err("URI port is not provided".into());
        };
        // The subscriber listens inside its environment: `sandbox.localdomain` is the
        // environment's loopback, and an address is one of the environment's network.
        let ip: std::net::IpAddr = match parsed.host_str() {
            Some("sandbox.localdomain") | Some("localhost") | None => {
                std::net::Ipv4Addr::LOCALHOST.into()
            }
            Some(h) => h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("URI {uri:?}: the host must be sandbox.localdomain"))?,
        };
        let addr = SocketAddr::new(ip, port);
        let destination = match dest.get("protocol").and_then(Value::as_str) {
            Some("HTTP") => Destination::Http {
                addr,
                host: format!(
                    "{}:{port}",
                    parsed.host_str().unwrap_or("sandbox.localdomain")
                ),
                path: match parsed.query() {
                    Some(q) => format!("{}?{q}", parsed.path()),
                    None => parsed.path().to_string(),
                },
            },
            Some("TCP") => Destination::Tcp(addr),
            other => {
                return Err(format!(
                    "destination.protocol {:?} is not supported: use HTTP or TCP",
                    other.unwrap_or("")
                ));
            }
        };
        Ok(Subscription {
            api,
            types,
            type_names,
            buffering,
            destination,
        })
    }
}

enum Delivery {
    Event(Value),
    /// Send what is buffered now, then answer.
    Flush(oneshot::Sender<()>),
}

struct Subscriber {
    /// The extension that subscribed (a second subscription replaces its first).
    name: String,
    /// What it asked for (the same request again changes nothing).
    request: Subscription,
    /// Its queue, as long as its `maxItems`: what does not fit is dropped and counted, so that a
    /// subscriber that does not keep up costs bounded memory.
    tx: mpsc::Sender<Delivery>,
    dropped: Arc<Dropped>,
}

/// Events a subscriber did not get (its queue was full, or a batch could not be delivered),
/// reported to it as `platform.logsDropped` with its next batch, as Lambda does.
#[derive(Debug, Default)]
struct Dropped {
    records: AtomicU64,
    bytes: AtomicU64,
}

impl Dropped {
    fn add(&self, records: usize, bytes: usize) {
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// What was dropped since the last call, as (records, bytes), if anything was.
    fn take(&self) -> Option<(u64, u64)> {
        let records = self.records.swap(0, Ordering::Relaxed);
        let bytes = self.bytes.swap(0, Ordering::Relaxed);
        (records > 0).then_some((records, bytes))
    }
}

/// The `platform.logsDropped` event for `records` events of `bytes` bytes.
fn logs_dropped(records: u64, bytes: u64) -> Value {
    event(
        "platform.logsDropped",
        json!({
            "reason": "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.",
            "droppedRecords": records,
            "droppedBytes": bytes,
        }),
    )
}

/// Queues `ev` for a subscriber, or counts it as dropped when its queue is full.
fn offer(tx: &mpsc::Sender<Delivery>, dropped: &Dropped, ev: Value) {
    if let Err(mpsc::error::TrySendError::Full(Delivery::Event(ev))) =
        tx.try_send(Delivery::Event(ev))
    {
        dropped.add(1, ev.to_string().len());
    }
}

/// One environment's telemetry: its subscribers, and the events of init kept for those that
/// subscribe later in init.
pub(crate) struct Telemetry {
    subscribers: Mutex<Vec<Subscriber>>,
    /// `None` once init is over (no backlog is kept after it).
    backlog: Mutex<Option<Vec<(Category, Value)>>>,
    /// The environment's network namespace, where subscribers listen (`None`: the server's).
    network: Option<Arc<NetworkNamespace>>,
}

/// How long one batch may take to be delivered.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// One subscriber's destination, and the namespace it is reached in.
struct Link {
    dest: Destination,
    network: Option<Arc<NetworkNamespace>>,
}

impl Link {
    async fn connect(&self, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
        match &self.network {
            Some(ns) => ns.connect(addr).await,
            None => tokio::net::TcpStream::connect(addr).await,
        }
    }
}

/// POSTs `body` (a JSON array) over a connection of its own, and reads the status line.
async fn post(
    link: &Link,
    addr: SocketAddr,
    host: &str,
    path: &str,
    body: &[u8],
) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let mut stream = link.connect(addr).await.map_err(|e| e.to_string())?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stream.write_all(body).await.map_err(|e| e.to_string())?;
    let mut answer = [0u8; 64];
    let mut read = 0;
    while read < 12 {
        let n = stream
            .read(&mut answer[read..])
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        read += n;
    }
    // "HTTP/1.1 200 …": any 2xx is delivered.
    match answer.get(9) {
        Some(b'2') if answer.starts_with(b"HTTP/1.") => Ok(()),
        _ => Err(format!(
            "answered {:?}",
            String::from_utf8_lossy(&answer[..read.min(12)])
        )),
    }
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

fn event(kind: &str, record: Value) -> Value {
    json!({
        "time": archfn_model::time::format_rfc3339_ms(archfn_model::time::now_ms()),
        "type": kind,
        "record": record,
    })
}

impl Telemetry {
    /// Telemetry of a new environment, keeping init's events for subscribers to come.
    pub(crate) fn new(network: Option<Arc<NetworkNamespace>>) -> Telemetry {
        Telemetry {
            subscribers: Mutex::new(Vec::new()),
            backlog: Mutex::new(Some(Vec::new())),
            network,
        }
    }

    /// Whether anybody listens (or may still subscribe): callers skip building events otherwise.
    pub(crate) fn wanted(&self) -> bool {
        self.backlog.lock().map(|b| b.is_some()).unwrap_or(false)
            || self
                .subscribers
                .lock()
                .map(|s| !s.is_empty())
                .unwrap_or(false)
    }

    /// Emits one event of `category`, `kind` (`platform.start`, `function`, …) with `record`.
    pub(crate) fn emit(&self, category: Category, kind: &str, record: Value) {
        let ev = event(kind, record);
        if let Ok(mut backlog) = self.backlog.lock()
            && let Some(b) = backlog.as_mut()
            && b.len() < MAX_BACKLOG
        {
            b.push((category, ev.clone()));
        }
        if let Ok(subs) = self.subscribers.lock() {
            for s in subs.iter().filter(|s| s.request.types.contains(&category)) {
                for ev in s.request.api.translate(&ev) {
                    offer(&s.tx, &s.dropped, ev);
                }
            }
        }
    }

    /// Emits each line of `text` as a `function` event.
    pub(crate) fn function_lines(&self, text: &str) {
        if text.is_empty() || !self.wanted() {
            return;
        }
        for line in text.lines().filter(|l| !l.is_empty()) {
            self.emit(
                Category::Function,
                "function",
                Value::String(line.to_string()),
            );
        }
    }

    /// Init is over: events are no longer kept for late subscribers.
    pub(crate) fn end_init(&self) {
        if let Ok(mut b) = self.backlog.lock() {
            *b = None;
        }
    }

    /// Adds extension `name`'s subscription: it gets init's events so far, then its
    /// subscription's event, then everything of its types as it happens. The same request again
    /// changes nothing; a different one from the same extension replaces its first. An
    /// environment's subscribers all use one API: a subscription through the other one is
    /// refused (the error is the message).
    pub(crate) fn subscribe(&self, name: &str, sub: Subscription) -> Result<(), String> {
        let (tx, rx) = mpsc::channel(sub.buffering.max_items);
        let dropped = Arc::new(Dropped::default());
        {
            let Ok(mut subs) = self.subscribers.lock() else {
                return Err("telemetry is unavailable".into());
            };
            let same_api =
                |a: Api, b: Api| matches!(a, Api::Telemetry) == matches!(b, Api::Telemetry);
            if subs.iter().any(|s| !same_api(s.request.api, sub.api)) {
                return Err(
                    "extensions of an environment subscribe through the Telemetry API or the Logs API, not both"
                        .into(),
                );
            }
            if subs.iter().any(|s| s.name == name && s.request == sub) {
                return Ok(());
            }
            subs.retain(|s| s.name != name);
            if let Ok(b) = self.backlog.lock()
                && let Some(b) = b.as_ref()
            {
                for (category, ev) in b {
                    if sub.types.contains(category) {
                        for ev in sub.api.translate(ev) {
                            offer(&tx, &dropped, ev);
                        }
                    }
                }
            }
            subs.push(Subscriber {
                name: name.to_string(),
                request: sub.clone(),
                tx,
                dropped: dropped.clone(),
            });
        }
        let link = Link {
            dest: sub.destination.clone(),
            network: self.network.clone(),
        };
        tokio::spawn(deliver(link, sub.buffering, rx, dropped));
        self.emit(
            Category::Platform,
            sub.api.subscription_event(),
            json!({ "name": name, "state": "Subscribed", "types": sub.type_names }),
        );
        Ok(())
    }

    /// Sends every subscriber's buffer now and waits for that, at most `limit` (before
    /// SHUTDOWN, so that extensions have everything when they are told to stop).
    pub(crate) async fn flush(&self, limit: Duration) {
        let senders: Vec<mpsc::Sender<Delivery>> = match self.subscribers.lock() {
            Ok(subs) => subs.iter().map(|s| s.tx.clone()).collect(),
            Err(_) => Vec::new(),
        };
        let _ = tokio::time::timeout(limit, async {
            for tx in senders {
                let (done, wait) = oneshot::channel();
                if tx.send(Delivery::Flush(done)).await.is_ok() {
                    let _ = wait.await;
                }
            }
        })
        .await;
    }
}

/// One subscriber's sender: buffers events and sends them when the batch is full or old enough.
async fn deliver(
    link: Link,
    buffering: Buffering,
    mut rx: mpsc::Receiver<Delivery>,
    dropped: Arc<Dropped>,
) {
    let mut tcp: Option<tokio::net::TcpStream> = None;
    // Each event is serialized once, when it arrives: its size counts against maxBytes, and the
    // text is what goes out.
    let mut batch: Vec<String> = Vec::new();
    let mut bytes = 0usize;
    let mut due = tokio::time::Instant::now();
    loop {
        let full = batch.len() >= buffering.max_items || bytes >= buffering.max_bytes;
        let flush_now = tokio::select! {
            msg = rx.recv(), if !full => match msg {
                None => true,
                Some(Delivery::Event(ev)) => {
                    if batch.is_empty() {
                        due = tokio::time::Instant::now() + buffering.timeout;
                    }
                    let text = ev.to_string();
                    bytes += text.len();
                    batch.push(text);
                    false
                }
                Some(Delivery::Flush(done)) => {
                    send(&link, &mut tcp, std::mem::take(&mut batch), std::mem::take(&mut bytes), &dropped).await;
                    let _ = done.send(());
                    false
                }
            },
            _ = tokio::time::sleep_until(due), if !batch.is_empty() && !full => true,
            _ = std::future::ready(()), if full => true,
        };
        if flush_now && !batch.is_empty() {
            send(
                &link,
                &mut tcp,
                std::mem::take(&mut batch),
                std::mem::take(&mut bytes),
                &dropped,
            )
            .await;
        }
        if rx.is_closed() && rx.is_empty() && batch.is_empty() {
            return;
        }
    }
}

/// Sends one batch of serialized events (`bytes` long in all), with a `platform.logsDropped`
/// event first when events were dropped since the last one. A batch that cannot be delivered is
/// counted as dropped in turn.
async fn send(
    link: &Link,
    tcp: &mut Option<tokio::net::TcpStream>,
    batch: Vec<String>,
    bytes: usize,
    dropped: &Dropped,
) {
    if batch.is_empty() {
        return;
    }
    let (mut lost_records, mut lost_bytes) = (batch.len() as u64, bytes as u64);
    // Should this batch fail too, what it reports stays to be reported.
    let report = dropped.take().map(|(records, bytes)| {
        lost_records += records;
        lost_bytes += bytes;
        logs_dropped(records, bytes).to_string()
    });
    let events = report.iter().chain(batch.iter()).map(String::as_str);
    let result = match &link.dest {
        Destination::Http { addr, host, path } => {
            let body = format!("[{}]", events.collect::<Vec<_>>().join(","));
            tokio::time::timeout(
                DELIVERY_TIMEOUT,
                post(link, *addr, host, path, body.as_bytes()),
            )
            .await
            .unwrap_or_else(|_| Err("timed out".into()))
        }
        Destination::Tcp(addr) => {
            let lines: String = events.flat_map(|e| [e, "\n"]).collect();
            if tcp.is_none() {
                *tcp = tokio::time::timeout(DELIVERY_TIMEOUT, link.connect(*addr))
                    .await
                    .ok()
                    .and_then(Result::ok);
            }
            match tcp.as_mut() {
                Some(stream) => match stream.write_all(lines.as_bytes()).await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        *tcp = None;
                        Err(e.to_string())
                    }
                },
                None => Err(format!("cannot connect to {addr}")),
            }
        }
    };
    if let Err(e) = result {
        dropped.add(lost_records as usize, lost_bytes as usize);
        tracing::debug!(events = lost_records, error = %e, "telemetry batch not delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_subscription_with_lambdas_defaults_and_bounds() {
        let s = Subscription::parse(
            Api::Telemetry,
            br#"{"schemaVersion":"2022-07-01","types":["platform","function"],
                "destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:4243/t"}}"#,
        );
        let s = s.as_ref().map_err(String::as_str);
        assert!(matches!(s, Ok(s) if s.destination == Destination::Http {
                addr: "127.0.0.1:4243".parse().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
                host: "sandbox.localdomain:4243".into(),
                path: "/t".into(),
            }
            && s.buffering.max_items == 10_000 && s.buffering.timeout == Duration::from_millis(1_000)));
        let bad = |body: &str| {
            Subscription::parse(Api::Telemetry, body.as_bytes())
                .err()
                .unwrap_or_default()
        };
        assert_eq!(
            bad(
                r#"{"schemaVersion":"2022-07-01","types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain"}}"#
            ),
            "URI port is not provided"
        );
        assert_eq!(
            bad(
                r#"{"schemaVersion":"2022-07-01","types":[],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1"}}"#
            ),
            "types should not be empty"
        );
        assert!(bad(r#"{"schemaVersion":"2022-07-01","types":["platform"],"buffering":{"timeoutMs":5},"destination":{"protocol":"TCP","URI":"http://sandbox.localdomain:1"}}"#)
            .contains("timeoutMs"));
        assert!(
            bad(r#"{"schemaVersion":"1999-01-01","types":["platform"]}"#).contains("schemaVersion")
        );
    }

    #[test]
    fn the_logs_api_gets_its_own_shapes() {
        let logs = Api::Logs { runtime_done: true };
        let done = event(
            "platform.runtimeDone",
            json!({"requestId": "r", "status": "success", "metrics": {"durationMs": 1.0}}),
        );
        let out = logs.translate(&done);
        let kinds: Vec<&str> = out.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(kinds, ["platform.runtimeDone", "platform.end"]);
        assert_eq!(out[1]["record"], json!({"requestId": "r"}));
        assert!(
            Api::Logs {
                runtime_done: false
            }
            .translate(&done)
            .len()
                == 1
        );
        let start = event("platform.initStart", json!({"phase": "init"}));
        assert!(logs.translate(&start).is_empty());
        assert_eq!(Api::Telemetry.translate(&start), vec![start.clone()]);
        let parsed = Subscription::parse(
            Api::Logs { runtime_done: false },
            br#"{"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:9"}}"#,
        );
        assert!(matches!(parsed, Ok(s) if s.api == Api::Logs { runtime_done: false }));
    }

    #[test]
    fn a_full_queue_drops_and_counts_then_reports() {
        let (tx, mut rx) = mpsc::channel(2);
        let dropped = Dropped::default();
        for i in 0..5 {
            offer(
                &tx,
                &dropped,
                json!({"type": "function", "record": format!("line {i}")}),
            );
        }
        let mut kept = 0;
        while let Ok(Delivery::Event(_)) = rx.try_recv() {
            kept += 1;
        }
        assert_eq!(kept, 2);
        let report = dropped
            .take()
            .map(|(records, bytes)| logs_dropped(records, bytes));
        let record = report
            .as_ref()
            .map(|e| e["record"].clone())
            .unwrap_or_default();
        assert_eq!(
            report.as_ref().map(|e| e["type"].clone()),
            Some(json!("platform.logsDropped"))
        );
        assert_eq!(record["droppedRecords"], json!(3));
        assert!(record["droppedBytes"].as_u64().is_some_and(|b| b > 3 * 20));
        assert!(dropped.take().is_none(), "reported once");
    }
}
