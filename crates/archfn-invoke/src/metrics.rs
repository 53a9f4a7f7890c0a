//! Invocation metrics, labelled with the architecture and whether it ran natively or emulated,
//! rendered in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// The labels of one series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Labels {
    pub function: String,
    pub version: String,
    pub arch: &'static str,
    pub execution: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Default, Clone, Copy)]
struct Series {
    count: u64,
    duration_ms_sum: f64,
    cold_starts: u64,
}

/// Counters of invocations.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    series: Mutex<BTreeMap<Labels, Series>>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub(crate) fn record(&self, labels: Labels, duration_ms: f64, cold: bool) {
        if let Ok(mut m) = self.series.lock() {
            let s = m.entry(labels).or_default();
            s.count += 1;
            s.duration_ms_sum += duration_ms;
            s.cold_starts += u64::from(cold);
        }
    }

    pub(crate) fn render(&self) -> String {
        let Ok(m) = self.series.lock() else {
            return String::new();
        };
        let mut out = String::new();
        let label = |l: &Labels| {
            format!(
                "function=\"{}\",version=\"{}\",arch=\"{}\",execution=\"{}\",outcome=\"{}\"",
                escape(&l.function),
                escape(&l.version),
                l.arch,
                l.execution,
                l.outcome
            )
        };
        let _ = writeln!(
            out,
            "# HELP archfn_invocations_total Invocations, by architecture and native or emulated execution."
        );
        let _ = writeln!(out, "# TYPE archfn_invocations_total counter");
        for (l, s) in m.iter() {
            let _ = writeln!(out, "archfn_invocations_total{{{}}} {}", label(l), s.count);
        }
        let _ = writeln!(
            out,
            "# HELP archfn_invocation_duration_milliseconds_sum Total invocation duration. Emulated time is not Graviton time."
        );
        let _ = writeln!(
            out,
            "# TYPE archfn_invocation_duration_milliseconds_sum counter"
        );
        for (l, s) in m.iter() {
            let _ = writeln!(
                out,
                "archfn_invocation_duration_milliseconds_sum{{{}}} {:.3}",
                label(l),
                s.duration_ms_sum
            );
        }
        let _ = writeln!(
            out,
            "# HELP archfn_cold_starts_total Invocations that started a new execution environment."
        );
        let _ = writeln!(out, "# TYPE archfn_cold_starts_total counter");
        for (l, s) in m.iter() {
            let _ = writeln!(
                out,
                "archfn_cold_starts_total{{{}}} {}",
                label(l),
                s.cold_starts
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labelled_series() {
        let m = Metrics::default();
        let l = Labels {
            function: "f".into(),
            version: "$LATEST".into(),
            arch: "arm64",
            execution: "emulated",
            outcome: "success",
        };
        m.record(l.clone(), 2.5, true);
        m.record(l, 1.5, false);
        let text = m.render();
        assert!(text.contains(r#"archfn_invocations_total{function="f",version="$LATEST",arch="arm64",execution="emulated",outcome="success"} 2"#));
        assert!(
            text.contains("archfn_invocation_duration_milliseconds_sum{")
                && text.contains("} 4.000")
        );
        assert!(text.contains(r#"outcome="success"} 1"#));
    }
}
