//! Log events as CloudWatch Logs keeps them: a line with its own timestamp, in a stream of a
//! log group; and the sink the invocation engine hands them to.

/// One log event: a line as a function or the platform emitted it (its newline kept, as
/// Lambda's events keep it) and when, in Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// When the line was emitted, Unix milliseconds.
    pub timestamp_ms: i64,
    /// The line.
    pub message: String,
}

/// Events of one log stream, in the order they were emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogBatch {
    /// The region of the function that wrote them.
    pub region: String,
    /// The log group (`/aws/lambda/NAME`, or the function's `LoggingConfig.LogGroup`).
    pub group: String,
    /// The log stream (one per execution environment).
    pub stream: String,
    /// The events, oldest first.
    pub events: Vec<LogEvent>,
}

/// Where the invocation engine hands its log events. `submit` must not block or do IO on the
/// caller's thread: it is called on the invoke path.
pub trait LogSink: Send + Sync + std::fmt::Debug {
    /// Takes a batch of events (it may drop them when it cannot keep up, counting them).
    fn submit(&self, batch: LogBatch);
}

/// The name Lambda gives the log stream of an execution environment started at `created_ms`
/// for `version` (`$LATEST` or a number): `YYYY/MM/DD/[VERSION]` and 32 hex digits of `id`.
pub fn lambda_stream_name(created_ms: i64, version: &str, id: &str) -> String {
    let date = jiff::Timestamp::from_millisecond(created_ms)
        .map(|t| t.strftime("%Y/%m/%d").to_string())
        .unwrap_or_else(|_| "1970/01/01".to_string());
    format!("{date}/[{version}]{id}")
}

/// Splits `text` into events at newlines (each keeping its newline); `stamp(offset)` gives the
/// timestamp of the line starting at byte `offset`.
pub fn split_lines(text: &str, mut stamp: impl FnMut(usize) -> i64) -> Vec<LogEvent> {
    let mut events = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            events.push(LogEvent {
                timestamp_ms: stamp(offset),
                message: line.to_string(),
            });
        }
        offset += line.len();
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_are_lambdas() {
        assert_eq!(
            lambda_stream_name(
                1_700_000_000_000,
                "$LATEST",
                "0123456789abcdef0123456789abcdef"
            ),
            "2023/11/14/[$LATEST]0123456789abcdef0123456789abcdef"
        );
        assert_eq!(
            lambda_stream_name(1_700_000_000_000, "3", "ab"),
            "2023/11/14/[3]ab"
        );
    }

    #[test]
    fn lines_keep_their_newline_and_offsets() {
        let events = split_lines("a\n\nbc\nd", |o| o as i64);
        let got: Vec<(i64, &str)> = events
            .iter()
            .map(|e| (e.timestamp_ms, e.message.as_str()))
            .collect();
        assert_eq!(got, vec![(0, "a\n"), (3, "bc\n"), (6, "d")]);
    }
}
