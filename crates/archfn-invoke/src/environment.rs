//! One execution environment: a sandboxed runtime process and its Runtime API.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use archfn_sandbox::bwrap;
use archfn_sandbox::cgroup::EnvLimits;
use archfn_sandbox::host::{Confined, Host};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use crate::logs::{LogPlace, LogRouter};
use crate::runtime_api::{
    FunctionInfo, InitError, Invocation, ResponsePart, RuntimeApi, RuntimeReply, StreamEnd,
    StreamPart,
};
use crate::telemetry::{Category, Telemetry};

use crate::ending::ExitInfo;

/// Why an environment did not become ready.
#[derive(Debug)]
pub(crate) enum InitFailure {
    /// The runtime reported it through `/runtime/init/error`.
    Reported(InitError),
    /// The process ended first.
    Exited(ExitInfo),
    /// It took longer than allowed.
    TimedOut,
    /// It could not be started at all.
    Spawn(String),
}

/// What became of one invocation.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The runtime answered with a whole body (never [`RuntimeReply::Stream`]: a stream is
    /// followed to its end, [`Outcome::Streamed`]).
    Reply(RuntimeReply),
    /// The runtime streamed its answer to the end.
    Streamed {
        /// How the stream ended.
        end: StreamEnd,
        /// Bytes the runtime streamed.
        bytes: u64,
        /// The body, when nobody took it as it came (a plain Invoke buffers a streamed answer,
        /// up to the buffered limit).
        buffered: Option<Bytes>,
    },
    /// The process ended without answering.
    Exited(ExitInfo),
    /// The deadline passed.
    TimedOut,
}

/// A running environment.
#[derive(Debug)]
pub(crate) struct Environment {
    api: RuntimeApi,
    kill: Option<oneshot::Sender<()>>,
    exited: watch::Receiver<Option<ExitInfo>>,
    log_path: PathBuf,
    /// The output file, open for reading (`None` once the environment is being dropped).
    log_file: Option<std::fs::File>,
    log_offset: u64,
    /// Its network, identity, /tmp and cgroups, released when the environment goes.
    confined: Box<dyn Confined>,
    /// Frozen between invocations.
    frozen: bool,
    /// Its share of the host's memory budget, returned when the environment goes.
    pub budget: Option<crate::budget::Lease>,
    pub init_ms: Option<f64>,
    pub last_used: Instant,
    /// Where output written after the last invocation goes when the environment ends (what
    /// extensions print on SHUTDOWN), and where every line of the environment goes: its log
    /// stream.
    pub log_sink: Option<(Arc<LogRouter>, LogPlace)>,
}

/// What a plain Invoke buffers of a streamed answer: Lambda's buffered response limit.
const BUFFERED_STREAM_MAX_BYTES: usize = archfn_model::limits::SYNC_INVOKE_PAYLOAD_MAX_BYTES;

/// How long extensions subscribed to SHUTDOWN get before the environment is killed.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(2000);

/// How long buffered telemetry may take to go out before SHUTDOWN is sent.
const TELEMETRY_FLUSH_LIMIT: Duration = Duration::from_millis(500);

impl Drop for Environment {
    fn drop(&mut self) {
        // Extensions get SHUTDOWN, and processes can be killed, only once they run again.
        self.thaw();
        let kill = self.kill.take();
        let log_path = self.log_path.clone();
        let log_file = self.log_file.take();
        let (sink, offset) = (self.log_sink.take(), self.log_offset);
        let told = self.alive() && self.api.subscribed("SHUTDOWN");
        let finish = move || {
            if let Some(k) = kill {
                let _ = k.send(());
            }
            if let Some((logs, place)) = sink {
                let (rest, _) = read_from(&log_file, offset);
                if !rest.is_empty() {
                    logs.append_text(&place, &rest);
                }
            }
            let _ = std::fs::remove_file(&log_path);
        };
        match tokio::runtime::Handle::try_current() {
            // Extensions that asked for SHUTDOWN get their grace period, or until they are
            // done with it (their next /event/next) or gone.
            Ok(handle) if told => {
                let mut busy = self.api.extensions_busy.clone();
                let mut exited = self.exited.clone();
                let server = self.api.take_server();
                let api = self.api.shared();
                handle.spawn(async move {
                    // Telemetry still buffered goes out first, so that extensions have it all
                    // when they are told to stop.
                    api.telemetry.flush(TELEMETRY_FLUSH_LIMIT).await;
                    let deadline = archfn_model::time::now_ms()
                        + i64::try_from(SHUTDOWN_GRACE.as_millis()).unwrap_or(2000);
                    api.dispatch("SHUTDOWN", || {
                        serde_json::json!({
                            "eventType": "SHUTDOWN",
                            "shutdownReason": "spindown",
                            "deadlineMs": deadline,
                        })
                    });
                    tokio::select! {
                        _ = busy.wait_for(|n| *n == 0) => {}
                        _ = exited.wait_for(Option::is_some) => {}
                        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {}
                    }
                    finish();
                    if let Some(s) = server {
                        s.abort();
                    }
                });
            }
            _ => finish(),
        }
    }
}

fn describe_exit(status: std::io::Result<archfn_sandbox::host::ProcessExit>) -> ExitInfo {
    match status {
        Ok(s) => ExitInfo::Process(s),
        Err(e) => ExitInfo::WaitFailed(e.to_string()),
    }
}

/// What starting an environment needs besides the sandbox layout.
#[derive(Clone)]
pub(crate) struct StartParams {
    /// Where it is confined.
    pub host: Arc<dyn Host>,
    pub spec: bwrap::EnvironmentSpec,
    pub log_dir: PathBuf,
    /// Its memory, processes and CPU.
    pub limits: EnvLimits,
    pub init_timeout: Duration,
    /// What `/extension/register` answers.
    pub function: FunctionInfo,
    /// External extensions started with the runtime (`/opt/extensions/*`): init ends when
    /// each has registered and called `/event/next`.
    pub extensions_expected: usize,
    /// `init`, or `invoke` for an init run again inside the first invocation (telemetry).
    pub init_phase: &'static str,
    /// The runtime's version string (telemetry's `runtimeVersion`).
    pub runtime_version: String,
}

impl Environment {
    /// Starts the runtime and waits for its first `/next` (the end of init).
    pub(crate) async fn start(mut p: StartParams) -> Result<Environment, (InitFailure, String)> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let spawn_error = |what: &str, e: &dyn std::fmt::Display| {
            (InitFailure::Spawn(format!("{what}: {e}")), String::new())
        };
        let host = p.host.clone();
        let (env_id, limits, tmp_size) = (id.clone(), p.limits, p.spec.tmp_size_mb);
        let prepared = tokio::task::spawn_blocking(move || host.prepare(&env_id, limits, tmp_size))
            .await
            .map_err(|e| spawn_error("environment", &e))?
            .map_err(|e| spawn_error("environment", &e))?;
        let mut confined = prepared.confined;
        let api = RuntimeApi::start(
            p.function.clone(),
            Some(prepared.listener),
            prepared.namespace,
        )
        .await
        .map_err(|e| spawn_error("runtime api", &e))?;
        p.spec
            .env
            .push(("AWS_LAMBDA_RUNTIME_API".into(), prepared.runtime_api));
        let initialization = p
            .spec
            .env
            .iter()
            .find(|(k, _)| k == "AWS_LAMBDA_INITIALIZATION_TYPE")
            .map_or("on-demand", |(_, v)| v.as_str())
            .to_string();
        api.telemetry().emit(
            Category::Platform,
            "platform.initStart",
            serde_json::json!({
                "initializationType": initialization,
                "phase": p.init_phase,
                "runtimeVersion": p.runtime_version,
                "functionName": p.function.function_name,
                "functionVersion": p.function.function_version,
            }),
        );
        let log_path = p.log_dir.join(format!("env-{id}.log"));
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
        };
        let (out, err, log_file) = match (open(), open(), std::fs::File::open(&log_path)) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                return Err((InitFailure::Spawn(format!("log file: {e}")), String::new()));
            }
        };
        let started = Instant::now();
        let mut child = confined.spawn(&p.spec, out, err).map_err(|e| {
            (
                InitFailure::Spawn(format!("starting bwrap: {e}")),
                String::new(),
            )
        })?;
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    child.start_kill();
                    child.wait().await
                }
            };
            exit_tx.send_replace(Some(describe_exit(status)));
        });
        let mut env = Environment {
            api,
            kill: Some(kill_tx),
            exited: exit_rx,
            log_path,
            log_file: Some(log_file),
            log_offset: 0,
            confined,
            frozen: false,
            budget: None,
            init_ms: None,
            last_used: Instant::now(),
            log_sink: None,
        };
        let mut ready = env.api.ready.clone();
        let mut extensions = env.api.extensions_started.clone();
        let mut init_error = env.api.init_error.clone();
        let mut exited = env.exited.clone();
        let deadline = tokio::time::sleep(p.init_timeout);
        tokio::pin!(deadline);
        loop {
            let reported = init_error.borrow().clone();
            if let Some(e) = reported {
                let log = env.read_new_log();
                return Err((InitFailure::Reported(e), log));
            }
            // Init ends when the runtime and every extension, the launched ones and those that
            // registered from inside the runtime, have asked for their first event.
            let waiting_for = p.extensions_expected.max(env.api.registered());
            let is_ready = *ready.borrow() && *extensions.borrow() >= waiting_for;
            if is_ready {
                break;
            }
            let ended = exited.borrow().clone();
            if let Some(info) = ended {
                // Give a reported init error that raced the exit its chance.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let reported = init_error.borrow().clone();
                if let Some(e) = reported {
                    let log = env.read_new_log();
                    return Err((InitFailure::Reported(e), log));
                }
                let log = env.read_new_log();
                return Err((InitFailure::Exited(info), log));
            }
            tokio::select! {
                _ = ready.changed() => {}
                _ = extensions.changed() => {}
                _ = init_error.changed() => {}
                _ = exited.changed() => {}
                _ = &mut deadline => {
                    let log = env.read_new_log();
                    return Err((InitFailure::TimedOut, log));
                }
            }
        }
        env.init_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
        tracing::debug!(init_ms = env.init_ms, "environment started");
        Ok(env)
    }

    /// `EXTENSION` log lines for the extensions that registered, as Lambda prints them at init.
    pub(crate) fn extension_lines(&self, plog: &crate::logs::PlatformLog) -> String {
        self.api
            .extensions()
            .into_iter()
            .map(|(name, events)| plog.extension(&name, "Ready", &events))
            .collect()
    }

    /// Runs one invocation to its end: an answer, the process's end, or the deadline. Extensions
    /// subscribed to INVOKE get the event too, and the invocation ends when they are done with it.
    /// A streamed answer goes to `sink` chunk by chunk as it arrives (without a sink it is
    /// buffered, as a plain Invoke of a streaming function is).
    pub(crate) async fn invoke(
        &mut self,
        mut inv: Invocation,
        timeout: Duration,
        sink: Option<mpsc::Sender<ResponsePart>>,
    ) -> Outcome {
        let started = Instant::now();
        let (tx, rx) = oneshot::channel();
        inv.reply = tx;
        let mut exited = self.exited.clone();
        let gone = exited.borrow().clone();
        if let Some(info) = gone {
            return Outcome::Exited(info);
        }
        let told = self.api.dispatch("INVOKE", || {
            serde_json::json!({
                "eventType": "INVOKE",
                "deadlineMs": inv.deadline_ms,
                "requestId": inv.request_id,
                "invokedFunctionArn": inv.invoked_arn,
                "tracing": { "type": "X-Amzn-Trace-Id", "value": inv.trace_id },
            })
        });
        if self.api.invocations.send(inv).await.is_err() {
            return Outcome::Exited(ExitInfo::ApiClosed);
        }
        let outcome = self.runtime_outcome(rx, timeout, sink).await;
        if told == 0 || !matches!(outcome, Outcome::Reply(_) | Outcome::Streamed { .. }) {
            return outcome;
        }
        let mut busy = self.api.extensions_busy.clone();
        tokio::select! {
            _ = busy.wait_for(|n| *n == 0) => outcome,
            _ = exited.wait_for(Option::is_some) => outcome,
            _ = tokio::time::sleep(timeout.saturating_sub(started.elapsed())) => Outcome::TimedOut,
        }
    }

    /// Waits for the runtime's answer to the invocation just sent (a streamed one to its end).
    async fn runtime_outcome(
        &mut self,
        rx: oneshot::Receiver<RuntimeReply>,
        timeout: Duration,
        sink: Option<mpsc::Sender<ResponsePart>>,
    ) -> Outcome {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut exited = self.exited.clone();
        let status = self.exited.clone();
        let exit_info = move || status.borrow().clone().unwrap_or(ExitInfo::ApiClosed);
        let reply = tokio::select! {
            reply = rx => match reply {
                Ok(r) => r,
                Err(_) => return Outcome::Exited(exit_info()),
            },
            _ = exited.wait_for(Option::is_some) => return Outcome::Exited(exit_info()),
            _ = tokio::time::sleep_until(deadline) => return Outcome::TimedOut,
        };
        match reply {
            RuntimeReply::Stream {
                content_type,
                parts,
            } => {
                let begin = ResponsePart::Begin {
                    content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
                };
                self.follow_stream(begin, parts, sink, deadline).await
            }
            whole => Outcome::Reply(whole),
        }
    }

    /// Follows a streamed answer to its end, under the same deadline and watching the process:
    /// each chunk goes on to `sink` as it comes (a sink whose reader left gets nothing more, and
    /// the function runs on, as on Lambda), or into a buffer of at most Lambda's buffered limit
    /// when there is no sink.
    async fn follow_stream(
        &self,
        begin: ResponsePart,
        mut parts: mpsc::Receiver<StreamPart>,
        mut sink: Option<mpsc::Sender<ResponsePart>>,
        deadline: tokio::time::Instant,
    ) -> Outcome {
        let mut exited = self.exited.clone();
        let status = self.exited.clone();
        let exit_info = move || status.borrow().clone().unwrap_or(ExitInfo::ApiClosed);
        let mut buffered = sink.is_none().then(bytes::BytesMut::new);
        let mut bytes: u64 = 0;
        let mut next = Some(begin);
        loop {
            if let (Some(to), Some(part)) = (&sink, next.take()) {
                tokio::select! {
                    sent = to.send(part) => if sent.is_err() { sink = None },
                    _ = tokio::time::sleep_until(deadline) => return Outcome::TimedOut,
                }
            }
            let part = tokio::select! {
                biased;
                part = parts.recv() => part,
                _ = exited.wait_for(Option::is_some) => return Outcome::Exited(exit_info()),
                _ = tokio::time::sleep_until(deadline) => return Outcome::TimedOut,
            };
            let chunk = match part {
                Some(StreamPart::Chunk(chunk)) => chunk,
                Some(StreamPart::End(end)) => {
                    return self
                        .stream_ended(end, bytes, buffered.map(|b| b.freeze()))
                        .await;
                }
                None => {
                    let end = StreamEnd::Broken("the stream ended without its end".into());
                    return self.stream_ended(end, bytes, None).await;
                }
            };
            bytes += chunk.len() as u64;
            if let Some(buf) = &mut buffered {
                if buf.len() + chunk.len() > BUFFERED_STREAM_MAX_BYTES {
                    // Dropping `parts` lets the runtime's writes go on into nothing.
                    return Outcome::Streamed {
                        end: StreamEnd::TooLarge,
                        bytes,
                        buffered: None,
                    };
                }
                buf.extend_from_slice(&chunk);
            } else {
                next = Some(ResponsePart::Data(chunk));
            }
        }
    }

    /// The outcome of a stream that ended with `end`: a stream broken off because the process
    /// died is the process's end.
    async fn stream_ended(&self, end: StreamEnd, bytes: u64, buffered: Option<Bytes>) -> Outcome {
        if let StreamEnd::Broken(_) = end {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let gone = self.exited.borrow().clone();
            if let Some(info) = gone {
                return Outcome::Exited(info);
            }
        }
        Outcome::Streamed {
            end,
            bytes,
            buffered,
        }
    }

    /// Stops every process of the environment until [`Environment::thaw`], as Lambda freezes an
    /// environment between invocations: nothing it started runs while nobody invokes it.
    pub(crate) fn freeze(&mut self) {
        self.frozen = self.confined.freeze();
    }

    /// Whether the environment is frozen.
    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Lets a frozen environment run again.
    pub(crate) fn thaw(&mut self) {
        if self.frozen {
            self.confined.thaw();
            self.frozen = false;
        }
    }

    /// This environment's Telemetry API.
    pub(crate) fn telemetry(&self) -> &Telemetry {
        self.api.telemetry()
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    /// A second handle on the output file, reading from where the environment's reading stands,
    /// so that output can be read (and stamped) while an invocation runs.
    pub(crate) fn output_tap(&self) -> Option<OutputTap> {
        let file = self.log_file.as_ref()?.try_clone().ok()?;
        Some(OutputTap {
            file: Some(file),
            start: self.log_offset,
            offset: self.log_offset,
        })
    }

    /// Takes what a tap read as read.
    pub(crate) fn consume_tap(&mut self, tap: &OutputTap) {
        self.log_offset += tap.offset - tap.start;
    }

    /// Output the runtime wrote since the last call. stdout and stderr go to a file, so what a
    /// handler printed before answering is all there when the answer arrives.
    pub(crate) fn read_new_log(&mut self) -> String {
        let (text, n) = read_from(&self.log_file, self.log_offset);
        self.log_offset += n;
        text
    }

    /// Peak memory of the environment, MB.
    pub(crate) fn max_memory_used_mb(&self) -> u64 {
        self.confined
            .peak_memory_bytes()
            .map(|b| b.div_ceil(1 << 20))
            .unwrap_or(0)
    }

    /// Whether the OOM killer ended it.
    pub(crate) fn oom_killed(&self) -> bool {
        self.confined.oom_killed()
    }
}

/// Reads an environment's output as it is written: whole lines only.
#[derive(Debug)]
pub(crate) struct OutputTap {
    file: Option<std::fs::File>,
    start: u64,
    offset: u64,
}

impl OutputTap {
    /// The whole lines written since the last read (up to 1 MB).
    pub(crate) fn read_lines(&mut self) -> String {
        let buf = read_bytes_from(&self.file, self.offset);
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            return String::new();
        };
        let lines = &buf[..=end];
        self.offset += lines.len() as u64;
        String::from_utf8_lossy(lines).into_owned()
    }
}

fn read_bytes_from(file: &Option<std::fs::File>, offset: u64) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let Some(f) = file else {
        return Vec::new();
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while buf.len() < 1 << 20 {
        let want = chunk.len().min((1 << 20) - buf.len());
        match f.read_at(&mut chunk[..want], offset + buf.len() as u64) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    buf
}

/// Up to 1 MB of a log file from `offset` (the cap bounds what one invocation puts in memory;
/// the rest stays in the file), and how many bytes that was. Positional reads: the kept handle
/// has no cursor to move, and an invocation without output costs one `pread`.
fn read_from(file: &Option<std::fs::File>, offset: u64) -> (String, u64) {
    let buf = read_bytes_from(file, offset);
    let n = buf.len() as u64;
    (String::from_utf8_lossy(&buf).into_owned(), n)
}

/// An invocation to send (its reply channel is set by `Environment::invoke`).
pub(crate) fn invocation(
    request_id: &str,
    payload: Bytes,
    deadline_ms: i64,
    invoked_arn: &str,
    client_context: Option<String>,
) -> Invocation {
    let (reply, _) = oneshot::channel();
    Invocation {
        request_id: request_id.to_string(),
        payload,
        deadline_ms,
        invoked_arn: invoked_arn.to_string(),
        client_context,
        trace_id: format!(
            "Root=1-{:08x}-{};Parent={};Sampled=0",
            archfn_model::time::now_ms() / 1000,
            &request_id.replace('-', "")[..24.min(request_id.replace('-', "").len())],
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        ),
        reply,
    }
}
