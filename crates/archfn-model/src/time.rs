//! Timestamps in the formats Lambda prints.

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Formats Unix milliseconds as Lambda's `LastModified` (`2023-11-14T22:13:20.000+0000`).
pub fn format_last_modified(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3f%z").to_string(),
        Err(_) => "1970-01-01T00:00:00.000+0000".to_string(),
    }
}

/// Formats Unix milliseconds as the Telemetry API's event `time` (`2023-11-14T22:13:20.000Z`).
pub fn format_rfc3339_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Today's date in UTC as `YYYY-MM-DD`, for comparing with runtime deprecation dates.
pub fn today_utc() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_lambda() {
        assert_eq!(
            format_last_modified(1_700_000_000_000),
            "2023-11-14T22:13:20.000+0000"
        );
        assert_eq!(
            format_rfc3339_ms(1_700_000_000_000),
            "2023-11-14T22:13:20.000Z"
        );
    }
}
