//! The report as text for a terminal: a table of the configurations, then the findings, the
//! recommendations and the notes.

use crate::report::{ConfigurationReport, Recommendation, Report};
use crate::units::{ms, usd};

/// Column headers of the configuration table, and whether each is right-aligned.
pub(crate) const COLUMNS: [(&str, bool); 11] = [
    ("config", false),
    ("exec", false),
    ("warm p50", true),
    ("warm p90", true),
    ("warm p99", true),
    ("cold p50", true),
    ("init p50", true),
    ("max mem", true),
    ("errors", true),
    ("$/1M", true),
    ("$/month", true),
];

/// `text` with every control character (a newline or an escape sequence from a label or an
/// answer included) written as a visible escape, so input cannot break lines or drive the
/// terminal.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Appends `text`, cleaned, as one line.
fn line(out: &mut String, text: &str) {
    out.push_str(&clean(text));
    out.push('\n');
}

/// Appends `text`, cleaned, as a line indented by `indent` spaces.
fn indented(out: &mut String, indent: usize, text: &str) {
    out.push_str(&" ".repeat(indent));
    line(out, text);
}

fn dash() -> String {
    "-".to_string()
}

/// The cells of one configuration's row, in [`COLUMNS`] order.
fn row(c: &ConfigurationReport) -> [String; 11] {
    let warm = c.warm.duration_ms;
    let warm_ms =
        |pick: fn(&crate::report::Summary) -> f64| warm.as_ref().map_or_else(dash, |s| ms(pick(s)));
    let label = if c.emulated {
        format!("{} (emulated)", c.label)
    } else {
        c.label.clone()
    };
    [
        label,
        c.execution.as_str().to_string(),
        warm_ms(|s| s.p50),
        warm_ms(|s| s.p90),
        warm_ms(|s| s.p99),
        c.cold.duration_ms.as_ref().map_or_else(dash, |s| ms(s.p50)),
        c.cold
            .init_duration_ms
            .as_ref()
            .map_or_else(dash, |s| ms(s.p50)),
        c.max_memory_used_mb
            .map_or_else(dash, |mb| format!("{mb} MB")),
        c.error_count.to_string(),
        c.cost
            .as_ref()
            .map_or_else(dash, |cost| usd(cost.per_million_usd)),
        c.cost
            .as_ref()
            .map_or_else(dash, |cost| usd(cost.monthly_usd)),
    ]
}

/// The configuration table: a header and one row per configuration, every cell padded to
/// its column's width, columns two spaces apart.
pub(crate) fn table(configurations: &[ConfigurationReport]) -> Vec<String> {
    let header: Vec<String> = COLUMNS.iter().map(|(name, _)| name.to_string()).collect();
    let rows: Vec<Vec<String>> = configurations
        .iter()
        .map(|c| row(c).iter().map(|cell| clean(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for cells in &rows {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|cells| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .zip(COLUMNS)
                .map(|((cell, width), (_, right))| {
                    let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
                    if right {
                        format!("{pad}{cell}")
                    } else {
                        format!("{cell}{pad}")
                    }
                })
                .collect();
            padded.join("  ")
        })
        .collect()
}

/// One strategy's recommendation; a caveat that repeats the Emulation section is named, not
/// repeated.
fn recommendation(out: &mut String, r: &Recommendation, emulation: Option<&str>) {
    let chosen = if r.chosen { " (chosen)" } else { "" };
    let pick = r.configuration.as_deref().unwrap_or("none");
    line(out, &format!("  {}{chosen}: {pick}", r.strategy));
    indented(out, 4, &r.reason);
    match r.caveat.as_deref() {
        Some(caveat) if Some(caveat) == emulation => indented(
            out,
            4,
            "Caveat: the latency of an emulated configuration is QEMU's (see Emulation above).",
        ),
        Some(caveat) => indented(out, 4, &format!("Caveat: {caveat}")),
        None => {}
    }
    for e in &r.excluded {
        indented(
            out,
            4,
            &format!("Not considered: {}: {}", e.configuration, e.why),
        );
    }
}

/// The report as text.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.settings;
    line(
        &mut out,
        &format!(
            "archfn compare: {} in {} (host {})",
            report.function,
            report.region,
            report.host_architecture.as_str()
        ),
    );
    line(
        &mut out,
        &format!(
            "{} payload(s), {} warm invocation(s) per payload, {} cold start(s) per \
             configuration, concurrency {}; strategy {} (w = {}); {} invocations a month",
            report.payloads.len(),
            s.invocations_per_payload,
            s.cold_per_configuration,
            s.concurrency,
            s.strategy,
            s.balanced_weight,
            s.monthly_invocations
        ),
    );
    out.push('\n');
    for table_line in table(&report.configurations) {
        out.push_str(&table_line);
        out.push('\n');
    }

    let failing: Vec<&ConfigurationReport> = report
        .configurations
        .iter()
        .filter(|c| c.error_count > 0)
        .collect();
    if !failing.is_empty() {
        out.push('\n');
        line(&mut out, "Errors");
        for c in failing {
            let types: Vec<String> = c
                .errors
                .iter()
                .map(|(error_type, n)| format!("{error_type} ×{n}"))
                .collect();
            indented(&mut out, 2, &format!("{}: {}", c.label, types.join(", ")));
        }
    }

    let e = &report.equivalence;
    out.push('\n');
    line(
        &mut out,
        &format!(
            "Equivalence (reference {}): {}",
            e.reference,
            if e.equivalent {
                format!("equivalent over {} payload(s)", e.payloads_compared)
            } else {
                format!("NOT equivalent, {} finding(s)", e.findings.len())
            }
        ),
    );
    for f in &e.findings {
        indented(&mut out, 2, &format!("- {}", f.text));
        if let Some(detail) = &f.detail {
            indented(&mut out, 4, detail);
        }
    }
    for v in &e.variations {
        indented(&mut out, 2, &format!("Note: {}", v.text));
    }

    if !report.memory_findings.is_empty() {
        out.push('\n');
        line(&mut out, "Memory");
        for m in &report.memory_findings {
            indented(&mut out, 2, &format!("- {}", m.text));
        }
    }

    if let Some(caveat) = &report.execution.caveat {
        out.push('\n');
        line(&mut out, "Emulation");
        indented(&mut out, 2, caveat);
    }

    let r = &report.recommendations;
    out.push('\n');
    line(&mut out, "Recommendations");
    let emulation = report.execution.caveat.as_deref();
    recommendation(&mut out, &r.cost, emulation);
    recommendation(&mut out, &r.speed, emulation);
    recommendation(&mut out, &r.balanced, emulation);
    indented(&mut out, 2, &format!("Speed verdict: {}", r.speed_verdict));

    out.push('\n');
    line(&mut out, "Notes");
    for note in &report.notes {
        indented(&mut out, 2, &format!("- {note}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\\nc");
        assert_eq!(clean("x86_64/512 ×3 …"), "x86_64/512 ×3 …");
    }
}
