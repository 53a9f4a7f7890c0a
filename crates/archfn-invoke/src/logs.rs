//! Platform log lines in Lambda's format, and per-function log files.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use archfn_sandbox::ExecutionMode;

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
pub(crate) fn report_line(request_id: &str, r: &Report, status: Option<(&str, &str)>) -> String {
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
    line.push_str(&format!("Execution: {}\t\n", r.mode.as_str()));
    line
}

/// The last 4 KB of an invocation's log, cut at a character boundary.
pub(crate) fn tail_4k(log: &str) -> &str {
    let mut start = log.len().saturating_sub(4096);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// Where function `name`'s log of `region` is kept.
pub(crate) fn function_log_path(root: &Path, region: &str, name: &str) -> Option<PathBuf> {
    // Defence in depth: the control plane validated both, but only plain names become paths.
    if !archfn_model::arn::valid_region(region)
        || !archfn_model::validation::is_plain_name(name, 64)
    {
        return None;
    }
    Some(root.join(region).join(format!("{name}.log")))
}

/// Per-function log files, kept open for appending: an invocation's lines cost one `write`.
/// Nothing deletes these files while the server runs, so a kept handle stays valid.
#[derive(Debug)]
pub(crate) struct FunctionLogs {
    root: PathBuf,
    open: Mutex<HashMap<(String, String), std::fs::File>>,
}

/// How many log files stay open at once; past this the handles are closed and reopened on use.
const MAX_OPEN_LOGS: usize = 256;

impl FunctionLogs {
    /// Logs kept under `root/<region>/<name>.log`.
    pub(crate) fn new(root: PathBuf) -> FunctionLogs {
        FunctionLogs {
            root,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Appends an invocation's lines to function `name`'s log. A failure is logged, not returned:
    /// the invocation's answer does not depend on it.
    pub(crate) fn append(&self, region: &str, name: &str, text: &str) {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (region.to_string(), name.to_string());
        if !open.contains_key(&key) {
            if open.len() >= MAX_OPEN_LOGS {
                open.clear();
            }
            let Some(path) = function_log_path(&self.root, region, name) else {
                tracing::warn!(
                    region,
                    function = name,
                    "refusing a log path for a name that is not plain"
                );
                return;
            };
            let file = path
                .parent()
                .map(std::fs::create_dir_all)
                .unwrap_or(Ok(()))
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                });
            match file {
                Ok(f) => {
                    open.insert(key.clone(), f);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not open function log");
                    return;
                }
            }
        }
        if let Some(f) = open.get_mut(&key)
            && let Err(e) = f.write_all(text.as_bytes())
        {
            tracing::warn!(function = name, error = %e, "could not write function log");
            open.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_path_refuses_names_that_are_not_plain() {
        let root = Path::new("logs");
        for (region, name) in [
            ("us-east-1", ".."),
            ("us-east-1", "."),
            ("us-east-1", "a/b"),
            ("us-east-1", ""),
            ("..", "f"),
            ("us-east-1/..", "f"),
        ] {
            assert!(
                function_log_path(root, region, name).is_none(),
                "{region} {name}"
            );
        }
        assert!(function_log_path(root, "us-east-1", "f").is_some());
    }

    #[test]
    fn report_rounds_billed_duration_up_and_names_the_mode() {
        let r = Report {
            duration_ms: 12.01,
            memory_mb: 128,
            max_memory_used_mb: 40,
            init_ms: Some(100.5),
            mode: ExecutionMode::Emulated,
        };
        let line = report_line("id", &r, None);
        assert!(line.starts_with("REPORT RequestId: id\tDuration: 12.01 ms\tBilled Duration: 113 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tInit Duration: 100.50 ms\t"));
        assert!(line.ends_with("Execution: emulated\t\n"));
    }

    #[test]
    fn tail_keeps_the_last_4k() {
        let s = "é".repeat(3000);
        let t = tail_4k(&s);
        assert!(t.len() <= 4096 && s.ends_with(t));
    }

    #[test]
    fn appends_keep_order_through_the_kept_handle() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let logs = FunctionLogs::new(dir.path().join("logs"));
        logs.append("us-east-1", "f", "START a\n");
        logs.append("us-east-1", "g", "START b\n");
        logs.append("us-east-1", "f", "END a\n");
        let path = function_log_path(&dir.path().join("logs"), "us-east-1", "f")
            .ok_or_else(|| std::io::Error::other("refused a plain name"))?;
        assert_eq!(std::fs::read_to_string(path)?, "START a\nEND a\n");
        Ok(())
    }
}
