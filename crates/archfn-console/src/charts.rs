//! A function's metrics over the last hour as charts, one line per version and execution
//! (`native` or `emulated`, always named: emulated arm64 speed is not Graviton speed), drawn as
//! inline SVG: invocations per minute and p50 duration per minute. The figures are the ones
//! `GET /archfn/v1/functions/{name}/metrics` gives: the store's, with what is not stored yet.

use std::collections::BTreeMap;

use archfn_model::Architecture;
use archfn_model::metrics::{Execution, MinuteBucket, MinuteStats, minute_of};
use maud::{Markup, html};

use crate::ConsoleState;

/// Minutes the charts cover.
const WINDOW_MINUTES: i64 = 60;

/// One line of a chart: its label, its CSS class, and a value per minute.
struct Line {
    label: String,
    class: &'static str,
    points: BTreeMap<i64, f64>,
}

/// The metrics of `name` in the last hour, by (version, architecture, execution) and minute.
async fn series(
    state: &ConsoleState,
    region: &str,
    name: &str,
    from: i64,
    to: i64,
) -> BTreeMap<(String, Architecture, Execution), BTreeMap<i64, MinuteStats>> {
    let control = state.app.control.clone();
    let buckets: Vec<MinuteBucket> = state
        .app
        .engine
        .with_unflushed_metrics(region, name, async |mut unflushed| {
            let mut stored = control
                .function_metrics(region, name, from, to)
                .await
                .map(|(_, b)| b)
                .unwrap_or_default();
            unflushed.retain(|b| b.minute >= from && b.minute <= to);
            stored.append(&mut unflushed);
            stored
        })
        .await;
    let mut out: BTreeMap<_, BTreeMap<i64, MinuteStats>> = BTreeMap::new();
    for b in buckets {
        let key = (b.key.version.clone(), b.key.arch, b.key.execution);
        out.entry(key)
            .or_default()
            .entry(b.minute)
            .or_default()
            .merge(&b.stats);
    }
    out
}

/// The charts of a function's page.
pub(crate) async fn charts(state: &ConsoleState, region: &str, name: &str) -> Markup {
    let to = minute_of(archfn_model::time::now_ms());
    let from = to - WINDOW_MINUTES + 1;
    let data = series(state, region, name, from, to).await;
    if data.is_empty() {
        return html! { p { "No invocations in the last hour." } };
    }
    let line = |pick: &dyn Fn(&MinuteStats) -> Option<f64>| -> Vec<Line> {
        data.iter()
            .map(|((version, arch, execution), minutes)| Line {
                label: format!("{version} · {} · {}", arch.as_str(), execution.as_str()),
                class: execution.as_str(),
                points: minutes
                    .iter()
                    .filter_map(|(m, s)| pick(s).map(|v| (*m, v)))
                    .collect(),
            })
            .collect()
    };
    let invocations = line(&|s| Some(s.invocations as f64));
    let p50 = line(&|s| s.duration_us.quantile(0.5).map(|us| us as f64 / 1000.0));
    html! {
        (chart("Invocations per minute", "", &invocations, from, to))
        (chart("Duration p50 per minute", " ms", &p50, from, to))
    }
}

/// A line chart of `lines` over minutes `from..=to`.
fn chart(title: &str, unit: &str, lines: &[Line], from: i64, to: i64) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 160.0;
    const PAD: f64 = 30.0;
    let max = lines
        .iter()
        .flat_map(|l| l.points.values())
        .fold(0.0_f64, |a, b| a.max(*b))
        .max(f64::MIN_POSITIVE);
    let span = (to - from).max(1) as f64;
    let x = |m: i64| PAD + (m - from) as f64 / span * (W - 2.0 * PAD);
    let y = |v: f64| H - PAD - v / max * (H - 2.0 * PAD);
    html! {
        figure.chart {
            figcaption { (title) " (last hour; highest " (format!("{max:.1}")) (unit) ")" }
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(title) width="100%" {
                line x1=(PAD) y1=(H - PAD) x2=(W - PAD) y2=(H - PAD) stroke="#d0d7de" {}
                line x1=(PAD) y1=(PAD) x2=(PAD) y2=(H - PAD) stroke="#d0d7de" {}
                @for l in lines {
                    @let points = l.points.iter().map(|(m, v)| format!("{:.1},{:.1}", x(*m), y(*v))).collect::<Vec<_>>().join(" ");
                    polyline class={ "series " (l.class) } points=(points) fill="none" stroke="currentColor" stroke-width="2" {}
                    @for (m, v) in &l.points {
                        circle class={ "point " (l.class) } cx=(format!("{:.1}", x(*m))) cy=(format!("{:.1}", y(*v))) r="3" fill="currentColor" {
                            title { (l.label) ": " (format!("{v:.2}")) (unit) }
                        }
                    }
                }
            }
            ul.legend {
                @for l in lines { li class=(l.class) { "— " (l.label) } }
            }
        }
    }
}
