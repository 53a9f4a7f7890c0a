//! Platform log lines in Lambda's format, and where an invocation's lines go (a log stream per
//! execution environment, through the server's log sink).

use std::sync::Arc;

use archfn_model::log_events::{LogBatch, LogEvent, LogSink, lambda_stream_name, split_lines};

use archfn_model::logging::{EffectiveLogging, LogFormat, LogLevel};
use archfn_sandbox::ExecutionMode;
use serde_json::{Value, json};

/// Figures of one invocation for its REPORT line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Report {
    pub duration_ms: f64,
    pub memory_mb: u32,
    pub max_memory_used_mb: u64,
    pub init_ms: Option<f64>,
    pub mode: ExecutionMode,
}

/// `INIT_START` with the runtime's version and archfn's `Execution` field.
pub(crate) fn init_start_line(runtime_version: &str, mode: ExecutionMode) -> String {
    format!(
        "INIT_START Runtime Version: {runtime_version}\tExecution: {}\n",
        mode.as_str()
    )
}

/// `INIT_REPORT` of an init that did not end in a ready environment: its phase (`init`, or
/// `invoke` for an init run again inside the first invocation), status and error type.
pub(crate) fn init_report_line(
    init_ms: f64,
    phase: &str,
    status: &str,
    error_type: Option<&str>,
    mode: ExecutionMode,
) -> String {
    let error = error_type
        .map(|e| format!("\tError Type: {e}"))
        .unwrap_or_default();
    format!(
        "INIT_REPORT Init Duration: {init_ms:.2} ms\tPhase: {phase}\tStatus: {status}{error}\tExecution: {}\n",
        mode.as_str()
    )
}

pub(crate) fn start_line(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}\n")
}

pub(crate) fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}\n")
}

impl Report {
    /// Billed Duration: the invocation plus a cold start's init, rounded up to the millisecond.
    pub(crate) fn billed_ms(&self) -> u64 {
        (self.duration_ms + self.init_ms.unwrap_or(0.0))
            .ceil()
            .max(1.0) as u64
    }
}

/// `REPORT …` with archfn's extra field `Execution: native|emulated`, and Lambda's optional
/// `Status`/`Error Type` tail.
pub(crate) fn report_line(
    request_id: &str,
    r: &Report,
    status: Option<(&str, &str)>,
    node: Option<&str>,
) -> String {
    let billed = r.billed_ms();
    let mut line = format!(
        "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        r.duration_ms, r.memory_mb, r.max_memory_used_mb
    );
    if let Some(init) = r.init_ms {
        line.push_str(&format!("Init Duration: {init:.2} ms\t"));
    }
    if let Some((status, error_type)) = status {
        line.push_str(&format!("Status: {status}\tError Type: {error_type}\t"));
    }
    if let Some(node) = node {
        line.push_str(&format!("Node: {node}\t"));
    }
    line.push_str(&format!("Execution: {}\t\n", r.mode.as_str()));
    line
}

/// The platform's lines of one function's log, in the format its `LoggingConfig` chooses:
/// Lambda's text lines, or (JSON) one `{"time", "type", "record"}` object per line, each
/// record of a level the system level filters; the function's own output filtered by the
/// application level.
#[derive(Debug, Clone)]
pub(crate) struct PlatformLog {
    logging: EffectiveLogging,
    /// The node that runs the invocation, named in the REPORT line when there are nodes.
    node: Option<std::sync::Arc<str>>,
}

impl PlatformLog {
    /// The lines of a function with configuration `c`.
    pub(crate) fn of(c: &archfn_model::FunctionConfig) -> PlatformLog {
        PlatformLog {
            logging: c.effective_logging(),
            node: None,
        }
    }

    /// The same lines, with the REPORT line naming `node`.
    pub(crate) fn on_node(mut self, node: Option<std::sync::Arc<str>>) -> PlatformLog {
        self.node = node;
        self
    }

    /// Whether the lines are JSON records.
    pub(crate) fn is_json(&self) -> bool {
        self.logging.format == LogFormat::Json
    }

    /// One platform record as a line, or nothing when the system level filters it out.
    fn record(&self, level: LogLevel, kind: &str, record: Value) -> String {
        if !self.logging.system_allows(level) {
            return String::new();
        }
        let line = json!({
            "time": archfn_model::time::format_rfc3339_ms(archfn_model::time::now_ms()),
            "type": kind,
            "record": record,
        });
        format!("{line}\n")
    }

    /// `INIT_START`, or `platform.initStart`.
    pub(crate) fn init_start(
        &self,
        runtime_version: &str,
        mode: ExecutionMode,
        function: &str,
        version: &str,
    ) -> String {
        if !self.is_json() {
            return init_start_line(runtime_version, mode);
        }
        self.record(
            LogLevel::Info,
            "platform.initStart",
            json!({
                "initializationType": "on-demand",
                "phase": "init",
                "runtimeVersion": runtime_version,
                "functionName": function,
                "functionVersion": version,
            }),
        )
    }

    /// `INIT_REPORT`, or `platform.initReport`.
    pub(crate) fn init_report(
        &self,
        init_ms: f64,
        phase: &str,
        status: &str,
        error_type: Option<&str>,
        mode: ExecutionMode,
    ) -> String {
        if !self.is_json() {
            return init_report_line(init_ms, phase, status, error_type, mode);
        }
        let mut record = json!({
            "initializationType": "on-demand",
            "phase": phase,
            "status": status,
            "metrics": { "durationMs": round2(init_ms) },
        });
        if let Some(e) = error_type {
            record["errorType"] = json!(e);
        }
        self.record(LogLevel::Info, "platform.initReport", record)
    }

    /// An extension's state line, or `platform.extension`.
    pub(crate) fn extension(&self, name: &str, state: &str, events: &[String]) -> String {
        if !self.is_json() {
            return format!(
                "EXTENSION\tName: {name}\tState: {state}\tEvents: [{}]\n",
                events.join(", ")
            );
        }
        self.record(
            LogLevel::Info,
            "platform.extension",
            json!({ "name": name, "state": state, "events": events }),
        )
    }

    /// `START`, or `platform.start`.
    pub(crate) fn start(&self, request_id: &str, version: &str) -> String {
        if !self.is_json() {
            return start_line(request_id, version);
        }
        self.record(
            LogLevel::Info,
            "platform.start",
            json!({ "requestId": request_id, "version": version }),
        )
    }

    /// `END`; nothing in JSON, where `platform.runtimeDone` (from `report`) says it.
    pub(crate) fn end(&self, request_id: &str) -> String {
        if self.is_json() {
            return String::new();
        }
        end_line(request_id)
    }

    /// Lambda's timeout line; nothing in JSON, where the report's status says it.
    pub(crate) fn timed_out(&self, request_id: &str, timeout_s: u32) -> String {
        if self.is_json() {
            return String::new();
        }
        format!(
            "{} {request_id} Task timed out after {timeout_s}.00 seconds\n",
            archfn_model::time::format_last_modified(archfn_model::time::now_ms())
        )
    }

    /// `REPORT …`, or `platform.runtimeDone` (DEBUG) and `platform.report`. `status` is the
    /// REPORT line's tail (`Status`, `Error Type`) when the invocation did not succeed;
    /// `telemetry_status` the Telemetry API's word for the ending.
    pub(crate) fn report(
        &self,
        request_id: &str,
        r: &Report,
        status: Option<(&str, &str)>,
        telemetry_status: &str,
        produced_bytes: usize,
    ) -> String {
        if !self.is_json() {
            return report_line(request_id, r, status, self.node.as_deref());
        }
        let error_type = status.map(|(_, e)| e);
        let mut done = json!({
            "requestId": request_id,
            "status": telemetry_status,
            "metrics": { "durationMs": round2(r.duration_ms), "producedBytes": produced_bytes },
        });
        let mut metrics = json!({
            "durationMs": round2(r.duration_ms),
            "billedDurationMs": r.billed_ms(),
            "memorySizeMB": r.memory_mb,
            "maxMemoryUsedMB": r.max_memory_used_mb,
        });
        if let Some(init) = r.init_ms {
            metrics["initDurationMs"] = json!(round2(init));
        }
        let mut report = json!({
            "requestId": request_id,
            "metrics": metrics,
            "status": telemetry_status,
        });
        if let Some(e) = error_type {
            done["errorType"] = json!(e);
            report["errorType"] = json!(e);
        }
        let mut out = self.record(LogLevel::Debug, "platform.runtimeDone", done);
        out.push_str(&self.record(LogLevel::Info, "platform.report", report));
        out
    }

    /// The function's own output as its log keeps it: unchanged with Text; with JSON, each
    /// line of a level the application level filters out dropped (a JSON object's `level`, as
    /// Lambda reads it; INFO for anything else).
    pub(crate) fn application<'a>(&self, output: &'a str) -> std::borrow::Cow<'a, str> {
        if !self.is_json() || self.logging.application_level == Some(LogLevel::Trace) {
            return std::borrow::Cow::Borrowed(output);
        }
        let kept: String = output
            .split_inclusive('\n')
            .filter(|line| self.logging.application_allows(line_level(line)))
            .collect();
        std::borrow::Cow::Owned(kept)
    }
}

/// The level Lambda gives a line of the function's output: the `level` of a JSON object, or
/// INFO.
fn line_level(line: &str) -> LogLevel {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return LogLevel::Info;
    }
    serde_json::from_str::<Value>(trimmed)
        .ok()
        .and_then(|v| {
            v.get("level")
                .and_then(Value::as_str)
                .and_then(LogLevel::from_record)
        })
        .unwrap_or(LogLevel::Info)
}

/// Milliseconds to two decimals, as Lambda's records give them.
fn round2(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

/// The last 4 KB of an invocation's log, cut at a character boundary.
pub(crate) fn tail_4k(log: &str) -> &str {
    let mut start = log.len().saturating_sub(4096);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// An invocation's log as it is written: its text (what `LogType: Tail` shows) and, for each
/// piece pushed, when it was pushed, so that every line keeps its own timestamp.
#[derive(Debug, Default)]
pub(crate) struct LogText {
    text: String,
    /// (byte offset, Unix milliseconds) of each piece.
    marks: Vec<(usize, i64)>,
}

impl LogText {
    /// Appends `s`, stamped now.
    pub(crate) fn push_str(&mut self, s: &str) {
        self.push_str_at(archfn_model::time::now_ms(), s);
    }

    /// Appends `s`, written at `ms` (Unix milliseconds).
    pub(crate) fn push_str_at(&mut self, ms: i64, s: &str) {
        if s.is_empty() {
            return;
        }
        self.marks.push((self.text.len(), ms));
        self.text.push_str(s);
    }

    /// The text, kept.
    pub(crate) fn into_string(self) -> String {
        self.text
    }

    /// The lines as events, each stamped with the time its piece was pushed.
    pub(crate) fn events(&self) -> Vec<LogEvent> {
        let mut marks = self.marks.iter().peekable();
        let mut stamp = archfn_model::time::now_ms();
        split_lines(&self.text, |offset| {
            while let Some(&&(at, ms)) = marks.peek() {
                if at > offset {
                    break;
                }
                stamp = ms;
                marks.next();
            }
            stamp
        })
    }
}

/// Where an environment's lines go: its region, log group and log stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogPlace {
    pub region: String,
    pub group: String,
    pub stream: String,
}

impl LogPlace {
    /// The place of a new execution environment of `c` in `region`: the function's log group
    /// (`LoggingConfig.LogGroup`, or `/aws/lambda/NAME`) and a stream named as Lambda names it.
    pub(crate) fn new_environment(region: &str, c: &archfn_model::FunctionConfig) -> LogPlace {
        Self::new_stream(region, c.effective_logging().log_group, &c.version)
    }

    /// A new stream of `version` in `group`.
    fn new_stream(region: &str, group: String, version: &str) -> LogPlace {
        LogPlace {
            region: region.to_string(),
            group,
            stream: lambda_stream_name(
                archfn_model::time::now_ms(),
                version,
                &uuid::Uuid::new_v4().simple().to_string(),
            ),
        }
    }
}

/// Hands the engine's log lines to the sink the server chose (CloudWatch Logs' writer), or
/// drops them when there is none.
#[derive(Debug, Default)]
pub(crate) struct LogRouter {
    sink: Option<Arc<dyn LogSink>>,
}

impl LogRouter {
    /// Lines go to `sink`.
    pub(crate) fn new(sink: Option<Arc<dyn LogSink>>) -> LogRouter {
        LogRouter { sink }
    }

    /// Submits an invocation's lines: no IO here, the sink queues them.
    pub(crate) fn append(&self, place: &LogPlace, log: &LogText) {
        self.submit(place, log.events());
    }

    /// Submits text stamped now (what an environment prints as it ends).
    pub(crate) fn append_text(&self, place: &LogPlace, text: &str) {
        let now = archfn_model::time::now_ms();
        self.submit(place, split_lines(text, |_| now));
    }

    fn submit(&self, place: &LogPlace, events: Vec<LogEvent>) {
        if let Some(sink) = &self.sink
            && !events.is_empty()
        {
            sink.submit(LogBatch {
                region: place.region.clone(),
                group: place.group.clone(),
                stream: place.stream.clone(),
                events,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_rounds_billed_duration_up_and_names_the_mode() {
        let r = Report {
            duration_ms: 12.01,
            memory_mb: 128,
            max_memory_used_mb: 40,
            init_ms: Some(100.5),
            mode: ExecutionMode::Emulated,
        };
        let line = report_line("id", &r, None, None);
        assert!(line.starts_with("REPORT RequestId: id\tDuration: 12.01 ms\tBilled Duration: 113 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 100.50 ms\t"));
        assert!(line.ends_with("Execution: emulated\t\n"));
        // With several nodes, the node that ran it comes before the mode.
        let on_node = report_line("id", &r, None, Some("a1b2c3"));
        assert!(on_node.ends_with("Max Memory Used: 40 MB\tInit Duration: 100.50 ms\tNode: a1b2c3\tExecution: emulated\t\n"));
    }

    fn json_config(system: Option<LogLevel>, app: Option<LogLevel>) -> PlatformLog {
        PlatformLog {
            logging: archfn_model::LoggingConfig {
                log_format: LogFormat::Json,
                application_log_level: app,
                system_log_level: system,
                log_group: None,
            }
            .effective("f"),
            node: None,
        }
    }

    #[test]
    fn json_records_take_lambdas_shapes_and_levels() -> Result<(), serde_json::Error> {
        let r = Report {
            duration_ms: 12.014,
            memory_mb: 128,
            max_memory_used_mb: 40,
            init_ms: None,
            mode: ExecutionMode::Native,
        };
        let plog = json_config(None, None);
        let lines = plog.report("id", &r, None, "success", 3);
        let records: Vec<Value> = lines
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert_eq!(records.len(), 1, "runtimeDone is DEBUG: {lines}");
        assert_eq!(records[0]["type"], "platform.report");
        assert_eq!(records[0]["record"]["metrics"]["durationMs"], 12.01);
        assert_eq!(records[0]["record"]["metrics"]["billedDurationMs"], 13);
        assert_eq!(plog.end("id"), "");
        let debug = json_config(Some(LogLevel::Debug), None);
        assert_eq!(
            debug.report("id", &r, None, "success", 3).lines().count(),
            2
        );
        let warn = json_config(Some(LogLevel::Warn), Some(LogLevel::Warn));
        assert_eq!(warn.start("id", "$LATEST"), "");
        let out = "plain\n{\"level\":\"ERROR\",\"message\":\"x\"}\n{\"level\":\"debug\"}\n";
        assert_eq!(
            warn.application(out),
            "{\"level\":\"ERROR\",\"message\":\"x\"}\n"
        );
        assert_eq!(
            json_config(None, None).application(out),
            "plain\n{\"level\":\"ERROR\",\"message\":\"x\"}\n"
        );
        Ok(())
    }

    #[test]
    fn tail_keeps_the_last_4k() {
        let s = "é".repeat(3000);
        let t = tail_4k(&s);
        assert!(t.len() <= 4096 && s.ends_with(t));
    }

    #[derive(Debug, Default)]
    struct Collect(std::sync::Mutex<Vec<LogBatch>>);

    impl LogSink for Collect {
        fn submit(&self, batch: LogBatch) {
            if let Ok(mut b) = self.0.lock() {
                b.push(batch);
            }
        }
    }

    #[test]
    fn lines_keep_the_time_their_piece_was_written() {
        let mut log = LogText::default();
        log.push_str("START a\n");
        log.marks[0].1 = 100;
        log.push_str("out 1\nout 2\n");
        log.marks[1].1 = 200;
        log.push_str("");
        log.push_str("END a\n");
        log.marks[2].1 = 300;
        let events = log.events();
        let got: Vec<(i64, &str)> = events
            .iter()
            .map(|e| (e.timestamp_ms, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (100, "START a\n"),
                (200, "out 1\n"),
                (200, "out 2\n"),
                (300, "END a\n")
            ]
        );
        let sink = Arc::new(Collect::default());
        let router = LogRouter::new(Some(sink.clone()));
        let place = LogPlace::new_stream("us-east-1", "/aws/lambda/f".into(), "$LATEST");
        assert!(place.stream.contains("/[$LATEST]"), "{}", place.stream);
        router.append(&place, &log);
        router.append(&place, &LogText::default());
        let batches = sink.0.lock().map(|b| b.clone()).unwrap_or_default();
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].events.len(), 4);
    }
}
