//! A [`Host`] for tests: it needs neither root nor QEMU. It records what it is asked
//! (architectures ensured, environments prepared, processes spawned, freezes and thaws), gives
//! each environment a Runtime API listener on the host's loopback, and instead of starting a
//! process it runs a scripted runtime that speaks the Lambda Runtime API over HTTP, chosen by the
//! function's handler (`_HANDLER`):
//!
//! - `echo`: answers every event with the event;
//! - `error`: reports every invocation as a `ValueError`;
//! - `crash`: takes an event and exits with status 1; `exit0`: the same with status 0;
//! - `hang`: takes an event and never answers;
//! - `oom`: takes an event and is killed by the "OOM killer" (signal 9, `oom_killed`);
//! - `init-error`: reports `Runtime.ImportModuleError` through `/runtime/init/error`, exits 1;
//! - `slow-init:MS`: waits MS milliseconds before its first `/next`, then echoes;
//! - `print:TEXT`: writes TEXT to its output for each event, then echoes;
//! - `stream:A,B,…`: answers in streaming mode (chunked), one chunk per item, 300 ms apart;
//! - `stream-error:TEXT`: streams TEXT, then reports a `ValueError` in the trailers;
//! - `stream-hang:TEXT`: streams TEXT and never ends the stream.

use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use archfn_model::Architecture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::SandboxError;
use crate::bwrap::EnvironmentSpec;
use crate::cgroup::EnvLimits;
use crate::host::{Confined, Host, Prepared, Process, ProcessExit};

/// The recording host (see the module's documentation).
#[derive(Debug, Default)]
pub struct FakeHost {
    events: Arc<Mutex<Vec<String>>>,
}

impl FakeHost {
    /// A new fake host.
    pub fn new() -> Arc<FakeHost> {
        Arc::new(FakeHost::default())
    }

    /// What it was asked, in order: `ensure x86_64`, `prepare memory=128 tmp=512`,
    /// `spawn echo`, `freeze`, `thaw`, `kill`, `shutdown`.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// How many events start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .count()
    }
}

fn record(events: &Mutex<Vec<String>>, event: String) {
    if let Ok(mut e) = events.lock() {
        e.push(event);
    }
}

impl Host for FakeHost {
    fn ensure_architecture(&self, arch: Architecture) -> Result<(), SandboxError> {
        record(&self.events, format!("ensure {arch}"));
        Ok(())
    }

    fn prepare(
        &self,
        _id: &str,
        limits: EnvLimits,
        tmp_size_mb: u32,
    ) -> Result<Prepared, SandboxError> {
        record(
            &self.events,
            format!("prepare memory={} tmp={tmp_size_mb}", limits.memory_mb),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let runtime_api = listener.local_addr()?.to_string();
        Ok(Prepared {
            listener,
            namespace: None,
            runtime_api,
            confined: Box::new(FakeConfined {
                events: self.events.clone(),
                oom: Arc::new(AtomicBool::new(false)),
            }),
        })
    }

    fn shutdown(&self) {
        record(&self.events, "shutdown".into());
    }
}

#[derive(Debug)]
struct FakeConfined {
    events: Arc<Mutex<Vec<String>>>,
    oom: Arc<AtomicBool>,
}

impl Confined for FakeConfined {
    fn spawn(
        &mut self,
        spec: &EnvironmentSpec,
        out: File,
        _err: File,
    ) -> io::Result<Box<dyn Process>> {
        let var = |name: &str| {
            spec.env
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let script = var("_HANDLER");
        let api = var("AWS_LAMBDA_RUNTIME_API");
        record(&self.events, format!("spawn {script}"));
        let (tx, rx) = watch::channel(None);
        let oom = self.oom.clone();
        let task = tokio::spawn(async move {
            let exit = run_script(&script, &api, out, &oom).await;
            tx.send_replace(Some(exit));
        });
        Ok(Box::new(FakeProcess {
            done: rx,
            task,
            events: self.events.clone(),
        }))
    }

    fn freeze(&self) -> bool {
        record(&self.events, "freeze".into());
        true
    }

    fn thaw(&self) {
        record(&self.events, "thaw".into());
    }

    fn peak_memory_bytes(&self) -> Option<u64> {
        Some(20 << 20)
    }

    fn oom_killed(&self) -> bool {
        self.oom.load(Ordering::Relaxed)
    }
}

struct FakeProcess {
    done: watch::Receiver<Option<ProcessExit>>,
    task: tokio::task::JoinHandle<()>,
    events: Arc<Mutex<Vec<String>>>,
}

impl Process for FakeProcess {
    fn wait(&mut self) -> Pin<Box<dyn Future<Output = io::Result<ProcessExit>> + Send + '_>> {
        Box::pin(async move {
            let exit = self
                .done
                .wait_for(Option::is_some)
                .await
                .map_err(|_| io::Error::other("the fake runtime went away"))?;
            Ok(exit.unwrap_or(ProcessExit::Signal(9)))
        })
    }

    fn start_kill(&mut self) {
        record(&self.events, "kill".into());
        self.task.abort();
        // The runtime's task is gone: it ended by the signal.
        let (tx, rx) = watch::channel(Some(ProcessExit::Signal(9)));
        drop(tx);
        self.done = rx;
    }
}

/// Runs the runtime `script` against the Runtime API at `api`; returns how it "exited".
async fn run_script(script: &str, api: &str, mut out: File, oom: &AtomicBool) -> ProcessExit {
    let (kind, arg) = script.split_once(':').unwrap_or((script, ""));
    if kind == "init-error" {
        let body = br#"{"errorType":"Runtime.ImportModuleError","errorMessage":"Unable to import module 'app'"}"#;
        let _ = call(
            api,
            "POST",
            "/2018-06-01/runtime/init/error",
            &[(
                "Lambda-Runtime-Function-Error-Type",
                "Runtime.ImportModuleError",
            )],
            body,
        )
        .await;
        return ProcessExit::Code(1);
    }
    if kind == "slow-init" {
        let ms = arg.parse().unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    loop {
        let Ok((status, headers, event)) =
            call(api, "GET", "/2018-06-01/runtime/invocation/next", &[], b"").await
        else {
            return ProcessExit::Code(2);
        };
        if status != 200 {
            return ProcessExit::Code(3);
        }
        let id = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("lambda-runtime-aws-request-id"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let respond = format!("/2018-06-01/runtime/invocation/{id}/response");
        let result = match kind {
            "crash" => return ProcessExit::Code(1),
            "exit0" => return ProcessExit::Code(0),
            "hang" => std::future::pending().await,
            "oom" => {
                oom.store(true, Ordering::Relaxed);
                return ProcessExit::Signal(9);
            }
            "error" => {
                let body = br#"{"errorType":"ValueError","errorMessage":"asked to fail"}"#;
                let path = format!("/2018-06-01/runtime/invocation/{id}/error");
                call(
                    api,
                    "POST",
                    &path,
                    &[("Lambda-Runtime-Function-Error-Type", "ValueError")],
                    body,
                )
                .await
            }
            "stream" | "stream-error" | "stream-hang" => {
                let chunks: Vec<&str> = if kind == "stream" {
                    arg.split(',').collect()
                } else {
                    vec![arg]
                };
                let trailers: &[(&str, &str)] = match kind {
                    // base64 of {"errorType":"ValueError","errorMessage":"mid-stream"}
                    "stream-error" => &[
                        ("Lambda-Runtime-Function-Error-Type", "ValueError"),
                        (
                            "Lambda-Runtime-Function-Error-Body",
                            "eyJlcnJvclR5cGUiOiJWYWx1ZUVycm9yIiwiZXJyb3JNZXNzYWdlIjoibWlkLXN0cmVhbSJ9",
                        ),
                    ],
                    _ => &[],
                };
                stream(api, &respond, &chunks, trailers, kind == "stream-hang").await
            }
            "print" => {
                let _ = writeln!(out, "{arg}");
                call(api, "POST", &respond, &[], &event).await
            }
            _ => call(api, "POST", &respond, &[], &event).await,
        };
        if result.is_err() {
            return ProcessExit::Code(4);
        }
    }
}

type Response = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 request on a connection of its own.
async fn call(
    api: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut stream = tokio::net::TcpStream::connect(api).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse_response(&raw).ok_or_else(|| io::Error::other("unreadable response"))
}

/// A streamed answer: one chunk per item of `chunks`, 300 ms apart, then `trailers` (or, when
/// `hang`, nothing more at all).
async fn stream(
    api: &str,
    path: &str,
    chunks: &[&str],
    trailers: &[(&str, &str)],
    hang: bool,
) -> io::Result<Response> {
    let mut conn = tokio::net::TcpStream::connect(api).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {api}\r\nTransfer-Encoding: chunked\r\nLambda-Runtime-Function-Response-Mode: streaming\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await?;
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let framed = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        conn.write_all(framed.as_bytes()).await?;
        conn.flush().await?;
    }
    if hang {
        std::future::pending::<()>().await;
    }
    let mut end = String::from("0\r\n");
    for (k, v) in trailers {
        end.push_str(&format!("{k}: {v}\r\n"));
    }
    end.push_str("\r\n");
    conn.write_all(end.as_bytes()).await?;
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).await?;
    parse_response(&raw).ok_or_else(|| io::Error::other("unreadable response"))
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..split)?).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw.get(split + 4..)?.to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    }
    Some((status, headers, body))
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(rest.get(..line_end)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = rest.get(line_end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_with_and_without_chunks() {
        let plain =
            b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\ncontent-length: 2\r\n\r\n{}";
        let (status, headers, body) = parse_response(plain).unwrap_or_default();
        assert_eq!((status, body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(headers[0].1, "r1");
        let chunked = b"HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let (status, _, body) = parse_response(chunked).unwrap_or_default();
        assert_eq!((status, body.as_slice()), (202, &b"abcde"[..]));
        assert!(parse_response(b"garbage").is_none());
    }
}
