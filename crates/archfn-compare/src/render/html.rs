//! The report as one self-contained HTML5 file: inline CSS, inline SVG charts, no script,
//! and no reference to anything outside the file (no URL of any kind).
//!
//! Charts, for a reader and for a browser test:
//! - `svg#latency-chart`: warm p50, p90 and p99 per configuration, grouped bars on a
//!   millisecond axis from 0; each bar a `rect.bar` with `data-config` (the label) and
//!   `data-percentile`.
//! - `svg#cost-chart`: cost per million invocations against warm p50, one `circle.point`
//!   with `data-config` per configuration; emulated points hollow and dashed.
//!
//! Both have `role="img"` and an `aria-label`; emulated bars and points carry the class
//! `emulated` and a legend says what it means.

use crate::report::{ConfigurationReport, Recommendation, Report, Summary};
use crate::units::{ms, usd};

use super::text::COLUMNS;

/// `text` safe in HTML text and in quoted attribute values: `& < > " '` as references,
/// `:` too (so that no `scheme:` of a URL from a label or an answer appears in the file),
/// and control characters other than tab and newline as U+FFFD.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            ':' => out.push_str("&#58;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:64rem;padding:0 1rem;color:#1b1b1b;background:#fff;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}h3{font-size:1rem;margin-bottom:.25rem}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e5e5e5;text-align:right;white-space:nowrap}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
tr.emulated td{background:#fff7e6}
.tag{display:inline-block;font-size:.75rem;padding:0 .35rem;border-radius:.3rem;background:#ffe2a8;color:#5c3b00;margin-left:.3rem}
.ref{background:#dbe9ff;color:#0b3570}
.verdict{font-weight:600}.bad{color:#a40000}.good{color:#0a6b1f}
.rec{border:1px solid #ddd;border-radius:.4rem;padding:.5rem 1rem;margin:.75rem 0}
.rec.chosen{border:2px solid #2a62b8}
.caveat{background:#fff7e6;border-left:4px solid #e8a33d;padding:.4rem .7rem}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}
svg{display:block;max-width:100%;height:auto;margin:1rem 0}
svg text{font-size:11px;fill:#333}
svg .axis{stroke:#555;stroke-width:1}
svg .grid{stroke:#e3e3e3;stroke-width:1}
svg .leader{stroke:#888;stroke-width:1}
svg .title{font-size:12px;font-weight:600}
.bar.p50{fill:#4c78a8}.bar.p90{fill:#f58518}.bar.p99{fill:#b7352f}
.swatch.p50{fill:#4c78a8}.swatch.p90{fill:#f58518}.swatch.p99{fill:#b7352f}
.bar.emulated,.swatch.emulated{fill-opacity:.35;stroke:#333;stroke-dasharray:3 2}
.point{fill:#2a62b8;stroke:#2a62b8;stroke-width:2}
.point.emulated{fill:#fff;stroke-dasharray:3 2}
";

/// The chart area: the view box, and the margins around the plot.
#[derive(Debug, Clone, Copy)]
struct Frame {
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn plot_width(&self) -> f64 {
        self.width - self.left - self.right
    }

    fn plot_height(&self) -> f64 {
        self.height - self.top - self.bottom
    }

    /// The y coordinate of `value` on an axis from `low` to `high`.
    fn y(&self, value: f64, low: f64, high: f64) -> f64 {
        let span = if high > low { high - low } else { 1.0 };
        self.top + self.plot_height() * (1.0 - (value - low) / span)
    }

    /// The x coordinate of `value` on an axis from `low` to `high`.
    fn x(&self, value: f64, low: f64, high: f64) -> f64 {
        let span = if high > low { high - low } else { 1.0 };
        self.left + self.plot_width() * (value - low) / span
    }
}

/// Round tick values covering `low..=high` (at most 21): steps of 1, 2, 2.5 or 5 times a
/// power of ten, about five of them.
fn nice_ticks(low: f64, high: f64) -> Vec<f64> {
    let (mut low, mut high) = if low.is_finite() && high.is_finite() {
        (low.min(high), low.max(high))
    } else {
        (0.0, 1.0)
    };
    if high - low <= f64::EPSILON * high.abs().max(1.0) {
        let pad = if high == 0.0 { 1.0 } else { high.abs() * 0.1 };
        let was_positive = low >= 0.0;
        low -= pad;
        high += pad;
        if was_positive && low < 0.0 {
            low = 0.0;
        }
    }
    let raw = (high - low) / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude);
    if !step.is_finite() || step <= 0.0 {
        return vec![0.0, 1.0];
    }
    let start = (low / step).floor() * step;
    let end = (high / step).ceil() * step;
    let count = ((end - start) / step).round().clamp(1.0, 20.0) as usize;
    (0..=count).map(|i| start + i as f64 * step).collect()
}

/// Decimals that write every multiple of `step` exactly (at most 8).
fn decimals(step: f64) -> usize {
    let mut d = 0;
    while d < 8 {
        let scaled = step * 10f64.powi(d as i32);
        if (scaled - scaled.round()).abs() < 1e-6 {
            break;
        }
        d += 1;
    }
    d
}

fn tick_step(ticks: &[f64]) -> f64 {
    match ticks {
        [a, b, ..] => b - a,
        _ => 1.0,
    }
}

fn open_svg(out: &mut String, id: &str, label: &str, frame: &Frame) {
    out.push_str(&format!(
        "<svg id=\"{id}\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\">\n<title>{}</title>\n",
        escape(label),
        frame.width,
        frame.height,
        frame.width,
        frame.height,
        escape(label),
    ));
}

/// Horizontal grid lines and labels of a y axis.
fn y_axis(out: &mut String, frame: &Frame, ticks: &[f64], format: impl Fn(f64) -> String) {
    let (low, high) = (
        ticks.first().copied().unwrap_or(0.0),
        ticks.last().copied().unwrap_or(1.0),
    );
    for &t in ticks {
        let y = frame.y(t, low, high);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            frame.left,
            frame.width - frame.right,
            frame.left - 6.0,
            y + 4.0,
            escape(&format(t)),
        ));
    }
    let bottom = frame.top + frame.plot_height();
    out.push_str(&format!(
        "<line class=\"axis\" x1=\"{l:.1}\" y1=\"{t:.1}\" x2=\"{l:.1}\" y2=\"{bottom:.1}\"/>\
         <line class=\"axis\" x1=\"{l:.1}\" y1=\"{bottom:.1}\" x2=\"{r:.1}\" y2=\"{bottom:.1}\"/>\n",
        l = frame.left,
        t = frame.top,
        r = frame.width - frame.right,
    ));
}

fn axis_title_y(out: &mut String, frame: &Frame, title: &str) {
    let x = 14.0;
    let y = frame.top + frame.plot_height() / 2.0;
    out.push_str(&format!(
        "<text class=\"title\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 {x:.1} {y:.1})\">{}</text>\n",
        escape(title)
    ));
}

fn latency_chart(out: &mut String, report: &Report) {
    let rows: Vec<(&ConfigurationReport, &Summary)> = report
        .configurations
        .iter()
        .filter_map(|c| c.warm.duration_ms.as_ref().map(|s| (c, s)))
        .collect();
    let frame = Frame {
        width: 760.0,
        height: 380.0,
        left: 72.0,
        right: 16.0,
        top: 40.0,
        bottom: 100.0,
    };
    open_svg(
        out,
        "latency-chart",
        "Warm latency percentiles (p50, p90, p99) per configuration, in milliseconds",
        &frame,
    );
    let max = rows.iter().map(|(_, s)| s.p99).fold(0.0, f64::max);
    let ticks = nice_ticks(0.0, max);
    let top = ticks.last().copied().unwrap_or(1.0);
    let places = decimals(tick_step(&ticks));
    y_axis(out, &frame, &ticks, |t| format!("{t:.places$}"));
    axis_title_y(out, &frame, "warm duration (ms)");

    // Legend.
    let mut x = frame.left;
    for name in ["p50", "p90", "p99"] {
        out.push_str(&format!(
            "<rect class=\"swatch {name}\" x=\"{x:.1}\" y=\"12\" width=\"12\" height=\"12\"/>\
             <text x=\"{:.1}\" y=\"22\">{name}</text>\n",
            x + 16.0
        ));
        x += 56.0;
    }
    if rows.iter().any(|(c, _)| c.emulated) {
        out.push_str(&format!(
            "<rect class=\"swatch p50 emulated\" x=\"{x:.1}\" y=\"12\" width=\"12\" height=\"12\"/>\
             <text x=\"{:.1}\" y=\"22\">pale, dashed: emulated (QEMU's latency, not the processor's)</text>\n",
            x + 16.0
        ));
    }

    if rows.is_empty() {
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no warm invocations</text>\n",
            frame.width / 2.0,
            frame.height / 2.0
        ));
    }
    let group = frame.plot_width() / rows.len().max(1) as f64;
    let bar = (group * 0.8 / 3.0).min(40.0);
    let baseline = frame.top + frame.plot_height();
    for (i, (c, s)) in rows.iter().enumerate() {
        let start = frame.left + i as f64 * group + (group - 3.0 * bar) / 2.0;
        let emulated = if c.emulated { " emulated" } else { "" };
        let label = escape(&c.label);
        for (j, (name, value)) in [("p50", s.p50), ("p90", s.p90), ("p99", s.p99)]
            .into_iter()
            .enumerate()
        {
            let y = frame.y(value, 0.0, top);
            out.push_str(&format!(
                "<rect class=\"bar {name}{emulated}\" data-config=\"{label}\" data-percentile=\"{name}\" \
                 x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{label}{} warm {name}&#58; {}</title></rect>\n",
                start + j as f64 * bar,
                (bar - 2.0).max(1.0),
                (baseline - y).max(0.0),
                if c.emulated { " (emulated)" } else { "" },
                escape(&ms(value)),
            ));
        }
        let cx = start + 1.5 * bar;
        let ly = baseline + 14.0;
        out.push_str(&format!(
            "<text x=\"{cx:.1}\" y=\"{ly:.1}\" text-anchor=\"end\" transform=\"rotate(-30 {cx:.1} {ly:.1})\">{label}{}</text>\n",
            if c.emulated { " (emulated)" } else { "" },
        ));
    }
    out.push_str("</svg>\n");
}

fn cost_chart(out: &mut String, report: &Report) {
    let points: Vec<(&ConfigurationReport, f64, f64)> = report
        .configurations
        .iter()
        .filter_map(|c| match (&c.warm.duration_ms, &c.cost) {
            (Some(s), Some(cost)) => Some((c, s.p50, cost.per_million_usd)),
            _ => None,
        })
        .collect();
    let frame = Frame {
        width: 760.0,
        height: 380.0,
        left: 84.0,
        right: 150.0,
        top: 40.0,
        bottom: 56.0,
    };
    open_svg(
        out,
        "cost-chart",
        "Cost per million invocations against warm p50 duration, one point per configuration",
        &frame,
    );
    let max_p50 = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let x_ticks = nice_ticks(0.0, max_p50);
    let (x_low, x_high) = (
        x_ticks.first().copied().unwrap_or(0.0),
        x_ticks.last().copied().unwrap_or(1.0),
    );
    let min_cost = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    let max_cost = points.iter().map(|p| p.2).fold(0.0, f64::max);
    let y_ticks = if points.is_empty() {
        nice_ticks(0.0, 1.0)
    } else {
        nice_ticks(min_cost, max_cost)
    };
    let (y_low, y_high) = (
        y_ticks.first().copied().unwrap_or(0.0),
        y_ticks.last().copied().unwrap_or(1.0),
    );
    let y_places = decimals(tick_step(&y_ticks));
    y_axis(out, &frame, &y_ticks, |t| format!("${t:.y_places$}"));
    axis_title_y(out, &frame, "cost per 1M invocations (USD)");
    let x_places = decimals(tick_step(&x_ticks));
    let baseline = frame.top + frame.plot_height();
    for &t in &x_ticks {
        let x = frame.x(t, x_low, x_high);
        out.push_str(&format!(
            "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{baseline:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t:.x_places$}</text>\n",
            baseline + 5.0,
            baseline + 18.0,
        ));
    }
    out.push_str(&format!(
        "<text class=\"title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">warm p50 duration (ms)</text>\n",
        frame.left + frame.plot_width() / 2.0,
        baseline + 40.0
    ));

    // Legend.
    out.push_str(&format!(
        "<circle cx=\"{:.1}\" cy=\"18\" r=\"5\" fill=\"#2a62b8\" stroke=\"#2a62b8\"/>\
         <text x=\"{:.1}\" y=\"22\">native</text>\n",
        frame.left + 4.0,
        frame.left + 14.0,
    ));
    if points.iter().any(|(c, _, _)| c.emulated) {
        out.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"18\" r=\"5\" fill=\"#fff\" stroke=\"#2a62b8\" stroke-width=\"2\" stroke-dasharray=\"3 2\"/>\
             <text x=\"{:.1}\" y=\"22\">hollow, dashed: emulated (QEMU's latency, and a cost computed from it)</text>\n",
            frame.left + 84.0,
            frame.left + 94.0,
        ));
    }

    if points.is_empty() {
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no configuration with warm invocations</text>\n",
            frame.width / 2.0,
            frame.height / 2.0
        ));
    }
    // Labels already placed, as (x, y, width): a label that would overlap one moves down.
    let mut placed: Vec<(f64, f64, f64)> = Vec::new();
    for (c, p50, cost) in &points {
        let x = frame.x(*p50, x_low, x_high);
        let y = frame.y(*cost, y_low, y_high);
        let text = format!("{}{}", c.label, if c.emulated { " (emulated)" } else { "" });
        let width = text.chars().count() as f64 * 6.5;
        let mut label_y = y + 4.0;
        for _ in 0..8 {
            let overlaps = placed.iter().any(|&(px, py, pw)| {
                (label_y - py).abs() < 12.0 && x + 9.0 < px + pw && px < x + 9.0 + width
            });
            if !overlaps {
                break;
            }
            label_y += 13.0;
        }
        placed.push((x + 9.0, label_y, width));
        if label_y > y + 4.0 {
            // A moved label gets a leader line to its point.
            out.push_str(&format!(
                "<line class=\"leader\" x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>\n",
                x + 8.0,
                label_y - 4.0
            ));
        }
        let label = escape(&c.label);
        let emulated = if c.emulated { " emulated" } else { "" };
        out.push_str(&format!(
            "<circle class=\"point{emulated}\" data-config=\"{label}\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\">\
             <title>{label}{}&#58; {} warm p50, {} per 1M</title></circle>\
             <text x=\"{:.1}\" y=\"{label_y:.1}\">{}</text>\n",
            if c.emulated { " (emulated)" } else { "" },
            escape(&ms(*p50)),
            escape(&usd(*cost)),
            x + 9.0,
            escape(&text),
        ));
    }
    out.push_str("</svg>\n");
}

fn cell(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

fn configurations_table(out: &mut String, report: &Report) {
    out.push_str("<table>\n<thead><tr>");
    for (name, _) in COLUMNS {
        out.push_str(&format!("<th>{}</th>", escape(name)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    let dash = || "-".to_string();
    for c in &report.configurations {
        let warm = c.warm.duration_ms.as_ref();
        out.push_str(if c.emulated {
            "<tr class=\"emulated\">"
        } else {
            "<tr>"
        });
        let mut first = escape(&c.label);
        if c.emulated {
            first.push_str("<span class=\"tag\">emulated</span>");
        }
        if c.reference {
            first.push_str("<span class=\"tag ref\">reference</span>");
        }
        out.push_str(&format!("<td>{first}</td>"));
        for text in [
            c.execution.as_str().to_string(),
            warm.map_or_else(dash, |s| ms(s.p50)),
            warm.map_or_else(dash, |s| ms(s.p90)),
            warm.map_or_else(dash, |s| ms(s.p99)),
            c.cold.duration_ms.as_ref().map_or_else(dash, |s| ms(s.p50)),
            c.cold
                .init_duration_ms
                .as_ref()
                .map_or_else(dash, |s| ms(s.p50)),
            c.max_memory_used_mb
                .map_or_else(dash, |mb| format!("{mb} / {} MB", c.memory_mb)),
            c.error_count.to_string(),
            c.cost
                .as_ref()
                .map_or_else(dash, |cost| usd(cost.per_million_usd)),
            c.cost
                .as_ref()
                .map_or_else(dash, |cost| usd(cost.monthly_usd)),
        ] {
            out.push_str(&cell(&text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");

    let failing: Vec<&ConfigurationReport> = report
        .configurations
        .iter()
        .filter(|c| c.error_count > 0)
        .collect();
    if !failing.is_empty() {
        out.push_str("<h3>Errors</h3>\n<ul>\n");
        for c in failing {
            let types: Vec<String> = c
                .errors
                .iter()
                .map(|(error_type, n)| format!("{error_type} ×{n}"))
                .collect();
            out.push_str(&format!(
                "<li>{}&#58; {}</li>\n",
                escape(&c.label),
                escape(&types.join(", "))
            ));
        }
        out.push_str("</ul>\n");
    }
    for c in report.configurations.iter() {
        if let Some(package) = &c.package {
            out.push_str(&format!(
                "<details><summary>What migrate changed for {}</summary><pre>{}</pre></details>\n",
                escape(&c.label),
                escape(package)
            ));
        }
    }
}

fn recommendation(out: &mut String, r: &Recommendation) {
    out.push_str(if r.chosen {
        "<div class=\"rec chosen\">\n"
    } else {
        "<div class=\"rec\">\n"
    });
    out.push_str(&format!(
        "<h3>{}{}&#58; {}</h3>\n<p>{}</p>\n",
        escape(r.strategy.as_str()),
        if r.chosen { " (chosen)" } else { "" },
        escape(r.configuration.as_deref().unwrap_or("none")),
        escape(&r.reason),
    ));
    if let Some(caveat) = &r.caveat {
        out.push_str(&format!("<p class=\"caveat\">{}</p>\n", escape(caveat)));
    }
    if !r.candidates.is_empty() {
        out.push_str("<table>\n<thead><tr><th>config</th><th>$/1M</th><th>warm p50</th>");
        let scored = r.candidates.iter().any(|c| c.score.is_some());
        if scored {
            out.push_str("<th>score</th>");
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for c in &r.candidates {
            out.push_str(&format!(
                "<tr>{}{}{}",
                cell(&c.configuration),
                cell(&usd(c.per_million_usd)),
                cell(&ms(c.warm_p50_ms)),
            ));
            if let Some(score) = c.score {
                out.push_str(&cell(&format!("{score:.3}")));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
    }
    if !r.excluded.is_empty() {
        out.push_str("<p>Not considered&#58;</p>\n<ul>\n");
        for e in &r.excluded {
            out.push_str(&format!(
                "<li>{}&#58; {}</li>\n",
                escape(&e.configuration),
                escape(&e.why)
            ));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</div>\n");
}

/// The report as one self-contained HTML5 file.
pub fn render_html(report: &Report) -> String {
    let mut out = String::with_capacity(48 * 1024);
    let s = &report.settings;
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!(
        "<title>archfn compare&#58; {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&report.function)
    ));
    out.push_str(&format!(
        "<h1>archfn compare&#58; {}</h1>\n<p>Region {}, host {}. {} payload(s), {} warm invocation(s) per payload, \
         {} cold start(s) per configuration, concurrency {}; strategy {} (w = {}); {} invocations a month.</p>\n",
        escape(&report.function),
        escape(&report.region),
        escape(report.host_architecture.as_str()),
        report.payloads.len(),
        s.invocations_per_payload,
        s.cold_per_configuration,
        s.concurrency,
        escape(s.strategy.as_str()),
        s.balanced_weight,
        s.monthly_invocations,
    ));
    let e = &report.equivalence;
    out.push_str(&format!(
        "<p class=\"verdict\">Recommended ({})&#58; {}. Answers {}.</p>\n",
        escape(s.strategy.as_str()),
        escape(report.recommended.as_deref().unwrap_or("none")),
        if e.equivalent {
            "<span class=\"good\">equivalent</span>".to_string()
        } else {
            format!(
                "<span class=\"bad\">not equivalent ({} finding(s))</span>",
                e.findings.len()
            )
        },
    ));
    if let Some(caveat) = &report.execution.caveat {
        out.push_str(&format!("<p class=\"caveat\">{}</p>\n", escape(caveat)));
    }

    out.push_str("<h2>Configurations</h2>\n");
    configurations_table(&mut out, report);

    out.push_str("<h2>Warm latency</h2>\n");
    latency_chart(&mut out, report);
    out.push_str("<h2>Cost against duration</h2>\n");
    cost_chart(&mut out, report);

    out.push_str(&format!(
        "<h2>Equivalence</h2>\n<p>Reference&#58; {}. {}</p>\n",
        escape(&e.reference),
        if e.equivalent {
            format!(
                "Every configuration answered the {} payload(s) compared as the reference did.",
                e.payloads_compared
            )
        } else {
            format!("{} difference(s)&#58;", e.findings.len())
        }
    ));
    if !e.findings.is_empty() {
        out.push_str("<ul>\n");
        for f in &e.findings {
            out.push_str(&format!("<li>{}", escape(&f.text)));
            if let Some(detail) = &f.detail {
                out.push_str(&format!("<br><small>{}</small>", escape(detail)));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    for v in &e.variations {
        out.push_str(&format!("<p>Note&#58; {}</p>\n", escape(&v.text)));
    }

    if !report.memory_findings.is_empty() {
        out.push_str("<h2>Memory</h2>\n<ul>\n");
        for m in &report.memory_findings {
            out.push_str(&format!("<li>{}</li>\n", escape(&m.text)));
        }
        out.push_str("</ul>\n");
    }

    let r = &report.recommendations;
    out.push_str("<h2>Recommendations</h2>\n");
    recommendation(&mut out, &r.cost);
    recommendation(&mut out, &r.speed);
    recommendation(&mut out, &r.balanced);
    out.push_str(&format!(
        "<p><strong>Speed verdict&#58;</strong> {}</p>\n",
        escape(&r.speed_verdict)
    ));

    out.push_str("<h2>Notes</h2>\n<ul>\n");
    for note in &report.notes {
        out.push_str(&format!("<li>{}</li>\n", escape(note)));
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_colons_and_controls() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\" http://e \u{0}"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; http&#58;//e \u{FFFD}"
        );
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 87.0), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(
            nice_ticks(0.0, 0.0),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let ticks = nice_ticks(0.2021, 0.2104);
        assert!(ticks.first().is_some_and(|t| *t <= 0.2021));
        assert!(ticks.last().is_some_and(|t| *t >= 0.2104));
        assert!(ticks.len() <= 21);
        assert_eq!(
            nice_ticks(f64::NAN, 1.0),
            [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(decimals(0.002), 3);
        assert_eq!(decimals(25.0), 0);
        assert_eq!(decimals(0.25), 2);
    }
}
