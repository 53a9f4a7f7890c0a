//! Platform log lines in Lambda's format, and per-function log files.

use std::io::Write;
use std::path::{Path, PathBuf};

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

pub(crate) fn start_line(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}\n")
}

pub(crate) fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}\n")
}

/// `REPORT …` with archfn's extra field `Execution: native|emulated`, and Lambda's optional
/// `Status`/`Error Type` tail.
pub(crate) fn report_line(request_id: &str, r: &Report, status: Option<(&str, &str)>) -> String {
    let billed = (r.duration_ms + r.init_ms.unwrap_or(0.0)).ceil().max(1.0) as u64;
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
pub(crate) fn function_log_path(root: &Path, region: &str, name: &str) -> PathBuf {
    root.join(region).join(format!("{name}.log"))
}

/// Appends an invocation's lines to its function's log file.
pub(crate) fn append(root: &Path, region: &str, name: &str, text: &str) {
    let path = function_log_path(root, region, name);
    let result = path
        .parent()
        .map(std::fs::create_dir_all)
        .unwrap_or(Ok(()))
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
        })
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not write function log");
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
}
