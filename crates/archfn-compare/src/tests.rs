//! Tests of [`build_report`] and the renderings over hand-built inputs.

use archfn_model::Architecture;
use archfn_model::metrics::Execution;
use archfn_pricing::{PriceBook, PricingError};
use serde_json::{Value, json};

use super::*;

fn book() -> PriceBook {
    PriceBook::embedded().expect("embedded price file")
}

/// A warm invocation of `payload` in `round` that ran `ms` and answered `response`.
fn warm(payload: usize, round: u32, ms: f64, response: Value) -> Sample {
    Sample {
        payload,
        round,
        cold: false,
        duration_ms: ms,
        billed_duration_ms: ms.ceil() as u64,
        init_duration_ms: None,
        max_memory_used_mb: 60,
        error_type: None,
        status: 200,
        response: Some(response),
        response_text: None,
    }
}

fn cold(payload: usize, round: u32, ms: f64, init_ms: f64, response: Value) -> Sample {
    Sample {
        cold: true,
        init_duration_ms: Some(init_ms),
        billed_duration_ms: (ms + init_ms).ceil() as u64,
        ..warm(payload, round, ms, response)
    }
}

fn failed(payload: usize, round: u32, ms: f64, error_type: &str) -> Sample {
    Sample {
        error_type: Some(error_type.to_string()),
        response: Some(json!({"errorType": error_type, "errorMessage": "boom"})),
        ..warm(payload, round, ms, Value::Null)
    }
}

fn architecture_of(label: &str) -> Architecture {
    if label.starts_with("arm64") {
        Architecture::Arm64
    } else {
        Architecture::X86_64
    }
}

/// A configuration whose label is `arch/memory`.
fn config(
    label: &str,
    memory_mb: u32,
    execution: Execution,
    samples: Vec<Sample>,
) -> ConfigurationRun {
    ConfigurationRun {
        label: label.to_string(),
        version: "1".to_string(),
        architecture: architecture_of(label),
        memory_mb,
        ephemeral_storage_mb: 512,
        execution,
        package: None,
        samples,
    }
}

/// Warm samples of both payloads answering `{"ok": true}`, two per duration.
fn timed(durations: &[f64]) -> Vec<Sample> {
    durations
        .iter()
        .enumerate()
        .flat_map(|(i, ms)| (0..2).map(move |p| warm(p, i as u32, *ms, json!({"ok": true}))))
        .collect()
}

fn input(host: Architecture, configurations: Vec<ConfigurationRun>) -> ComparisonInput {
    ComparisonInput {
        function: "resize".to_string(),
        region: "us-east-1".to_string(),
        host_architecture: host,
        settings: Settings {
            invocations_per_payload: 3,
            concurrency: 1,
            cold_per_configuration: 0,
            strategy: Strategy::Balanced,
            balanced_weight: DEFAULT_BALANCED_WEIGHT,
            monthly_invocations: 1_000_000,
            float_tolerance: DEFAULT_FLOAT_TOLERANCE,
        },
        payloads: vec![
            PayloadInfo {
                name: "p.json".to_string(),
                size_bytes: 10,
            },
            PayloadInfo {
                name: "q.json".to_string(),
                size_bytes: 20,
            },
        ],
        configurations,
    }
}

/// Three native x86_64 sizes whose cost, speed and balanced winners all differ: 128 MB ×
/// 80 ms is cheapest, 1024 MB × 20 ms fastest, 512 MB × 25 ms balanced at w = 0.5.
fn three_sizes() -> ComparisonInput {
    input(
        Architecture::X86_64,
        vec![
            config(
                "x86_64/128",
                128,
                Execution::Native,
                timed(&[80.0, 80.0, 80.0]),
            ),
            config(
                "x86_64/512",
                512,
                Execution::Native,
                timed(&[25.0, 25.0, 25.0]),
            ),
            config(
                "x86_64/1024",
                1024,
                Execution::Native,
                timed(&[20.0, 20.0, 20.0]),
            ),
        ],
    )
}

/// x86_64 native and arm64 emulated on an x86_64 host; arm64's QEMU latency is `arm_ms`.
fn mixed(arm_ms: f64) -> ComparisonInput {
    input(
        Architecture::X86_64,
        vec![
            config(
                "x86_64/512",
                512,
                Execution::Native,
                timed(&[20.0, 21.0, 22.0]),
            ),
            config(
                "x86_64/1024",
                1024,
                Execution::Native,
                timed(&[12.0, 12.0, 12.0]),
            ),
            config("arm64/512", 512, Execution::Emulated, timed(&[arm_ms; 3])),
        ],
    )
}

fn report(input: &ComparisonInput) -> Report {
    build_report(input, &book()).expect("report")
}

#[test]
fn warm_and_cold_are_summarised_apart() {
    let mut samples: Vec<Sample> = (1..=100)
        .map(|i| warm(0, i, f64::from(i), json!(1)))
        .collect();
    samples.push(cold(0, 0, 300.0, 150.0, json!(1)));
    samples.push(cold(0, 101, 500.0, 250.0, json!(1)));
    let mut i = input(
        Architecture::X86_64,
        vec![config("x86_64/512", 512, Execution::Native, samples)],
    );
    i.payloads.truncate(1);
    let r = report(&i);
    let c = &r.configurations[0];
    assert_eq!(c.invocations, 102);
    assert_eq!(c.warm.count, 100);
    let w = c.warm.duration_ms.expect("warm");
    assert_eq!((w.p50, w.p90, w.p99, w.max), (50.0, 90.0, 99.0, 100.0));
    assert!((w.mean - 50.5).abs() < 1e-9);
    assert_eq!(c.cold.count, 2);
    let cd = c.cold.duration_ms.expect("cold");
    assert_eq!((cd.p50, cd.max), (300.0, 500.0));
    let init = c.cold.init_duration_ms.expect("init");
    assert_eq!((init.p50, init.p99, init.mean), (150.0, 250.0, 200.0));
    assert_eq!(c.max_memory_used_mb, Some(60));
}

#[test]
fn cost_comes_from_the_warm_mean_billed_duration() {
    // 512 MB × 100 ms billed = 0.05 GB-s; a million of them 50,000 GB-s × $0.0000166667 =
    // $0.833335, plus $0.20 of requests. Cold starts (billed 400 ms) are left out.
    let samples = vec![
        warm(0, 1, 99.2, json!(1)),
        warm(0, 2, 99.9, json!(1)),
        cold(0, 0, 100.0, 300.0, json!(1)),
    ];
    let mut i = input(
        Architecture::X86_64,
        vec![config("x86_64/512", 512, Execution::Native, samples)],
    );
    i.payloads.truncate(1);
    i.settings.monthly_invocations = 3_000_000;
    let r = report(&i);
    let cost = r.configurations[0].cost.as_ref().expect("cost");
    assert_eq!(cost.mean_billed_duration_ms, 100.0);
    assert!(
        (cost.per_million_usd - 1.033335).abs() < 1e-9,
        "{}",
        cost.per_million_usd
    );
    assert_eq!(cost.per_million.gb_seconds, 50_000.0);
    assert_eq!(cost.monthly_gb_seconds, 150_000.0);
    assert!(
        (cost.monthly_usd - 3.100005).abs() < 1e-9,
        "{}",
        cost.monthly_usd
    );
    assert_eq!(cost.monthly.tiers.len(), 3);
    assert_eq!(r.prices.effective_from, book().effective_from());
    assert!(r.prices.init_billed);
    assert!(r.notes.iter().any(|n| n.contains("INIT is billed")));
    assert!(r.notes.iter().any(|n| n.contains(book().checked_on())));
}

#[test]
fn equal_answers_within_tolerance_and_in_any_key_order_are_equivalent() {
    let a = json!({"sum": 0.30000000000000004, "items": [1, 2, {"x": "y", "z": null}]});
    let b: Value = serde_json::from_str(r#"{"items": [1, 2, {"z": null, "x": "y"}], "sum": 0.3}"#)
        .expect("json");
    let i = input(
        Architecture::X86_64,
        vec![
            config(
                "x86_64/512",
                512,
                Execution::Native,
                vec![warm(0, 0, 10.0, a.clone()), warm(1, 0, 10.0, json!("q"))],
            ),
            config(
                "arm64/512",
                512,
                Execution::Native,
                vec![warm(0, 0, 10.0, b), warm(1, 0, 10.0, json!("q"))],
            ),
        ],
    );
    let r = report(&i);
    assert!(r.equivalence.equivalent, "{:?}", r.equivalence.findings);
    assert_eq!(r.equivalence.payloads_compared, 2);
    assert_eq!(r.equivalence.reference, "x86_64/512");

    // With no tolerance, 0.30000000000000004 and 0.3 differ.
    let mut strict = i.clone();
    strict.settings.float_tolerance = 0.0;
    let r = report(&strict);
    assert!(!r.equivalence.equivalent);
    assert_eq!(r.equivalence.findings[0].path.as_deref(), Some("$.sum"));
}

#[test]
#[allow(clippy::approx_constant)] // The issue's example, not π.
fn different_bodies_are_a_finding_with_the_path_of_the_first_difference() {
    let i = input(
        Architecture::X86_64,
        vec![
            config(
                "x86_64/512",
                512,
                Execution::Native,
                vec![
                    warm(0, 0, 10.0, json!({"result": [1, 2, 3.14159]})),
                    warm(1, 0, 10.0, json!(1)),
                ],
            ),
            config(
                "arm64/512",
                512,
                Execution::Native,
                vec![
                    warm(0, 0, 10.0, json!({"result": [1, 2, 3.2]})),
                    warm(1, 0, 10.0, json!(1)),
                ],
            ),
        ],
    );
    let r = report(&i);
    assert!(!r.equivalence.equivalent);
    let f = &r.equivalence.findings;
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::DifferentResponse);
    assert!(
        f[0].text.starts_with(
            "arm64/512 answered differently for payload p.json: $.result[2]: 3.14159 vs 3.2"
        ),
        "{}",
        f[0].text
    );
}

#[test]
fn an_error_where_the_reference_answered_200_is_a_finding() {
    // The reference is the host's architecture even when it is not listed first.
    let i = input(
        Architecture::X86_64,
        vec![
            config(
                "arm64/512",
                512,
                Execution::Emulated,
                vec![
                    failed(0, 0, 5.0, "Runtime.ImportModuleError"),
                    failed(1, 0, 5.0, "Runtime.ImportModuleError"),
                ],
            ),
            config(
                "x86_64/512",
                512,
                Execution::Native,
                vec![warm(0, 0, 10.0, json!(1)), warm(1, 0, 10.0, json!(2))],
            ),
        ],
    );
    let r = report(&i);
    assert_eq!(r.equivalence.reference, "x86_64/512");
    assert!(r.configurations[1].reference);
    let f = &r.equivalence.findings;
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].kind, FindingKind::ErrorWhereOk);
    assert!(
        f[0].text.starts_with(
            "arm64/512 answered Runtime.ImportModuleError where x86_64/512 answered 200"
        ),
        "{}",
        f[0].text
    );
    assert!(f[0].text.contains("p.json"));
    assert_eq!(
        r.configurations[0].errors.get("Runtime.ImportModuleError"),
        Some(&2)
    );
    assert_eq!(r.configurations[0].error_count, 2);

    // Errors of the same type on both sides are the same answer; of different types, not.
    let same = input(
        Architecture::X86_64,
        vec![
            config(
                "x86_64/512",
                512,
                Execution::Native,
                vec![failed(0, 0, 5.0, "Handled"), failed(1, 0, 5.0, "A")],
            ),
            config(
                "arm64/512",
                512,
                Execution::Native,
                vec![failed(0, 0, 5.0, "Handled"), failed(1, 0, 5.0, "B")],
            ),
        ],
    );
    let r = report(&same);
    assert_eq!(r.equivalence.findings.len(), 1);
    assert_eq!(r.equivalence.findings[0].kind, FindingKind::DifferentError);
    assert_eq!(r.equivalence.findings[0].payload_name, "q.json");
}

#[test]
fn a_status_without_an_error_type_is_an_error_too() {
    let mut throttled = warm(0, 0, 0.0, Value::Null);
    throttled.status = 429;
    throttled.response = None;
    throttled.response_text = Some("Rate exceeded".to_string());
    let mut i = input(
        Architecture::X86_64,
        vec![
            config(
                "x86_64/512",
                512,
                Execution::Native,
                vec![warm(0, 0, 10.0, json!(1))],
            ),
            config("arm64/512", 512, Execution::Native, vec![throttled]),
        ],
    );
    i.payloads.truncate(1);
    let r = report(&i);
    assert_eq!(r.configurations[1].errors.get("status 429"), Some(&1));
    assert!(
        r.equivalence.findings[0]
            .text
            .starts_with("arm64/512 answered status 429 where x86_64/512 answered 200")
    );
}

#[test]
fn nondeterministic_answers_are_a_note_and_the_first_answers_are_compared() {
    let varying = vec![
        warm(0, 2, 10.0, json!({"id": "c", "v": 1})),
        warm(0, 0, 10.0, json!({"id": "a", "v": 1})),
        warm(0, 1, 10.0, json!({"id": "b", "v": 1})),
        warm(1, 0, 10.0, json!({"id": "x"})),
        warm(1, 1, 10.0, json!({"id": "y"})),
    ];
    let i = input(
        Architecture::X86_64,
        vec![
            config("x86_64/512", 512, Execution::Native, varying),
            config(
                "arm64/512",
                512,
                Execution::Native,
                vec![
                    warm(0, 0, 10.0, json!({"v": 1, "id": "a"})),
                    warm(1, 0, 10.0, json!({"id": "x"})),
                ],
            ),
        ],
    );
    let r = report(&i);
    // The first answers (round 0) agree, so there is no finding.
    assert!(r.equivalence.equivalent, "{:?}", r.equivalence.findings);
    // One note for the configuration, naming both payloads.
    assert_eq!(r.equivalence.variations.len(), 1);
    let note = &r.equivalence.variations[0];
    assert_eq!(note.configuration, "x86_64/512");
    assert_eq!(note.payloads, ["p.json", "q.json"]);
    assert_eq!(note.example, "p.json: $.id: \"a\" vs \"b\"");
    assert!(note.text.contains("nondeterministic"), "{}", note.text);
}

#[test]
fn missing_answers_are_findings() {
    let i = input(
        Architecture::X86_64,
        vec![
            config(
                "x86_64/512",
                512,
                Execution::Native,
                vec![warm(0, 0, 10.0, json!(1))],
            ),
            config(
                "arm64/512",
                512,
                Execution::Native,
                vec![warm(0, 0, 10.0, json!(1)), warm(1, 0, 10.0, json!(1))],
            ),
        ],
    );
    let r = report(&i);
    assert!(!r.equivalence.equivalent);
    assert_eq!(r.equivalence.findings[0].kind, FindingKind::NoAnswer);
    assert_eq!(r.equivalence.findings[0].configuration, "x86_64/512");
    assert_eq!(r.equivalence.payloads_compared, 1);
}

#[test]
fn each_strategy_picks_its_own_winner() {
    let r = report(&three_sizes());
    let rec = &r.recommendations;
    assert_eq!(rec.cost.configuration.as_deref(), Some("x86_64/128"));
    assert_eq!(rec.speed.configuration.as_deref(), Some("x86_64/1024"));
    assert_eq!(rec.balanced.configuration.as_deref(), Some("x86_64/512"));
    assert!(rec.balanced.chosen && !rec.cost.chosen && !rec.speed.chosen);
    assert_eq!(r.recommended.as_deref(), Some("x86_64/512"));
    assert!(
        rec.speed_verdict.starts_with("judged: "),
        "{}",
        rec.speed_verdict
    );
    // Candidates are listed best first, with their scores for balanced.
    let scores: Vec<f64> = rec
        .balanced
        .candidates
        .iter()
        .filter_map(|c| c.score)
        .collect();
    assert_eq!(scores.len(), 3);
    assert!(scores.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        rec.cost.reason.contains("x86_64/128 costs $0.3667"),
        "{}",
        rec.cost.reason
    );
}

#[test]
fn balanced_at_the_ends_is_cost_and_speed() {
    for (w, expected) in [(1.0, "x86_64/128"), (0.0, "x86_64/1024")] {
        let mut i = three_sizes();
        i.settings.balanced_weight = w;
        let r = report(&i);
        assert_eq!(
            r.recommendations.balanced.configuration.as_deref(),
            Some(expected),
            "w = {w}"
        );
    }
    // Also among native configurations when an emulated one is present: w = 0 is speed
    // (native only) and w = 1 is cost (everyone, latency having no weight).
    for (w, strategy) in [(0.0, Strategy::Speed), (1.0, Strategy::Cost)] {
        let mut i = mixed(2.0);
        i.settings.balanced_weight = w;
        let r = report(&i);
        assert_eq!(
            r.recommendations.balanced.configuration,
            r.recommendations.get(strategy).configuration,
            "w = {w}"
        );
    }
}

#[test]
fn configurations_with_errors_or_differences_are_not_recommended() {
    let mut i = three_sizes();
    // The cheapest fails once; the fastest answers differently.
    i.configurations[0]
        .samples
        .push(failed(0, 9, 80.0, "Sandbox.Timedout"));
    for s in &mut i.configurations[2].samples {
        s.response = Some(json!({"ok": false}));
    }
    let r = report(&i);
    let rec = &r.recommendations;
    for strategy in Strategy::ALL {
        assert_eq!(
            rec.get(strategy).configuration.as_deref(),
            Some("x86_64/512"),
            "{strategy}"
        );
    }
    let why: Vec<&str> = rec.cost.excluded.iter().map(|e| e.why.as_str()).collect();
    assert!(why[0].contains("Sandbox.Timedout"), "{why:?}");
    assert!(why[1].contains("answered differently"), "{why:?}");

    // When every configuration fails, all are considered and the reason says so.
    for c in &mut i.configurations {
        c.samples.push(failed(0, 10, 1.0, "Boom"));
    }
    let r = report(&i);
    assert_eq!(
        r.recommendations.cost.configuration.as_deref(),
        Some("x86_64/128")
    );
    assert!(
        r.recommendations
            .cost
            .reason
            .contains("all of them were considered")
    );
}

#[test]
fn emulated_latency_never_decides_speed_and_the_report_says_why() {
    // arm64 under QEMU measured faster than x86_64 (it cannot be, but the rule must hold).
    let r = report(&mixed(2.0));
    let rec = &r.recommendations;
    assert_eq!(rec.speed.configuration.as_deref(), Some("x86_64/1024"));
    assert!(
        rec.speed_verdict.starts_with("not judged: "),
        "{}",
        rec.speed_verdict
    );
    assert!(
        rec.speed
            .excluded
            .iter()
            .any(|e| e.configuration == "arm64/512" && e.why.contains("QEMU"))
    );
    for caveat in [&rec.speed.caveat, &rec.balanced.caveat, &r.execution.caveat] {
        let caveat = caveat.as_deref().expect("caveat");
        assert!(caveat.contains("QEMU's, not Graviton's"), "{caveat}");
        assert!(
            caveat.contains("needs an arm64 host or an arm64 worker"),
            "{caveat}"
        );
        assert!(!caveat.to_lowercase().contains("the the"), "{caveat}");
        assert!(
            caveat.contains("equivalence and memory findings still hold"),
            "{caveat}"
        );
    }
    assert!(r.execution.executions_differ);
    assert_eq!(r.execution.emulated, ["arm64/512"]);
    assert!(r.configurations[2].emulated);
    // Cost considers everyone: arm64's cost from QEMU durations is still cheapest here, and
    // the caveat says that holds even so.
    assert_eq!(rec.cost.configuration.as_deref(), Some("arm64/512"));
    assert!(
        rec.cost
            .caveat
            .as_deref()
            .is_some_and(|c| c.contains("cheapest even so"))
    );

    // Slow under QEMU: x86_64 is cheapest, and the caveat gives arm64's break-even duration.
    let r = report(&mixed(400.0));
    let caveat = r
        .recommendations
        .cost
        .caveat
        .as_deref()
        .expect("cost caveat");
    assert!(caveat.contains("arm64/512 would cost less than x86_64/512 if its warm billed duration on Graviton were below"), "{caveat}");

    let text = render_text(&r);
    assert!(text.contains("arm64/512 (emulated)"), "{text}");
    assert!(text.contains("not judged: "), "{text}");
}

#[test]
fn on_an_arm64_host_the_roles_swap() {
    let i = input(
        Architecture::Arm64,
        vec![
            config("x86_64/512", 512, Execution::Emulated, timed(&[90.0; 3])),
            config("arm64/512", 512, Execution::Native, timed(&[20.0; 3])),
        ],
    );
    let r = report(&i);
    assert_eq!(r.equivalence.reference, "arm64/512");
    let caveat = r.execution.caveat.as_deref().expect("caveat");
    assert!(caveat.contains("on this arm64 host"), "{caveat}");
    assert!(caveat.contains("not an x86_64 processor's"), "{caveat}");
    assert!(
        caveat.contains("needs an x86_64 host or an x86_64 worker"),
        "{caveat}"
    );
    assert!(r.recommendations.speed_verdict.starts_with("not judged: "));
}

#[test]
fn all_native_reports_say_nothing_of_emulation() {
    // Both architectures native (an arm64 worker): the speed verdict across them is judged.
    let i = input(
        Architecture::X86_64,
        vec![
            config("x86_64/512", 512, Execution::Native, timed(&[20.0; 3])),
            config("arm64/512", 512, Execution::Native, timed(&[18.0; 3])),
        ],
    );
    let r = report(&i);
    assert_eq!(r.execution.caveat, None);
    assert!(!r.execution.executions_differ);
    assert!(r.recommendations.speed_verdict.starts_with("judged: "));
    assert_eq!(
        r.recommendations.speed.configuration.as_deref(),
        Some("arm64/512")
    );
    for strategy in Strategy::ALL {
        assert_eq!(r.recommendations.get(strategy).caveat, None);
    }
    for format in Format::ALL {
        let out = render(&r, format);
        assert!(!out.contains("QEMU"), "{format}");
        assert!(!out.contains("emulated)"), "{format}");
    }
}

#[test]
fn everything_emulated_is_not_judged_for_speed() {
    let i = input(
        Architecture::X86_64,
        vec![
            config("arm64/512", 512, Execution::Emulated, timed(&[90.0; 3])),
            config("arm64/1024", 1024, Execution::Emulated, timed(&[60.0; 3])),
        ],
    );
    let r = report(&i);
    assert!(!r.execution.executions_differ);
    assert!(r.recommendations.speed_verdict.starts_with("not judged: "));
    assert_eq!(
        r.recommendations.speed.configuration.as_deref(),
        Some("arm64/1024")
    );
    assert!(r.recommendations.speed.caveat.is_some());
    assert_eq!(
        r.recommendations.balanced.caveat,
        r.recommendations.speed.caveat
    );
    assert!(
        r.execution
            .caveat
            .as_deref()
            .is_some_and(|c| c.contains("Graviton"))
    );
}

#[test]
fn memory_near_the_limit_is_a_finding() {
    let mut i = three_sizes();
    for s in &mut i.configurations[0].samples {
        s.max_memory_used_mb = 128;
    }
    i.configurations[1].samples[0].max_memory_used_mb = 470;
    let r = report(&i);
    let m = &r.memory_findings;
    assert_eq!(m.len(), 2);
    assert!(m[0].text.contains("all of it"), "{}", m[0].text);
    assert!(m[1].text.contains("(92 %)"), "{}", m[1].text);
}

#[test]
fn html_escapes_everything_from_the_input() {
    let evil = "<script>alert('x')</script>";
    let mut broken = failed(1, 0, 1.0, evil);
    broken.response = None;
    broken.response_text = Some(format!(
        "<img src=x onerror=alert(1)> http://example.invalid/{evil}"
    ));
    let mut i = input(
        Architecture::X86_64,
        vec![
            config(
                "x86_64/512",
                512,
                Execution::Native,
                vec![
                    warm(0, 0, 10.0, json!({"a": 1})),
                    warm(1, 0, 10.0, json!(2)),
                ],
            ),
            config(
                "arm64/512",
                512,
                Execution::Emulated,
                vec![
                    warm(
                        0,
                        0,
                        10.0,
                        json!({"a": format!("{evil} https://example.invalid/")}),
                    ),
                    broken,
                ],
            ),
        ],
    );
    i.function = format!("fn{evil}");
    i.payloads[0].name = format!("{evil}.json");
    i.configurations[1].label = format!("arm64/{evil}");
    i.configurations[1].package = Some(format!("swapped {evil}"));
    let r = report(&i);
    assert_eq!(r.equivalence.findings.len(), 2);
    assert!(
        r.equivalence.findings[1]
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("<img"))
    );
    let html = render_html(&r);
    assert!(!html.to_lowercase().contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        !html.contains("http:") && !html.contains("https:"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(html.contains("answered differently"), "{html}");
    // Attributes stay well formed: every data-config value is escaped.
    assert!(html.contains("data-config=\"arm64/&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;\""));

    // Text keeps markup (a terminal does not run it) but not control characters.
    i.configurations[1].label = "arm64/\u{1b}[2J".to_string();
    let text = render_text(&report(&i));
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains("arm64/\\u{1b}[2J"));
}

#[test]
fn html_is_self_contained_with_both_charts() {
    let r = report(&mixed(200.0));
    let html = render_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("http"), "the file names no URL");
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert!(!html.contains("@import"));
    assert!(!html.contains("url("));
    assert!(!html.contains("src="));
    for id in ["latency-chart", "cost-chart"] {
        let at = html
            .find(&format!("<svg id=\"{id}\" role=\"img\" aria-label=\""))
            .expect(id);
        assert!(at > 0);
    }
    assert_eq!(html.matches("<rect class=\"bar ").count(), 3 * 3);
    assert_eq!(html.matches("<circle class=\"point").count(), 3);
    assert_eq!(html.matches("class=\"bar p50 emulated\"").count(), 1);
    assert_eq!(html.matches("class=\"point emulated\"").count(), 1);
    assert!(html.contains("warm duration (ms)"));
    assert!(html.contains("warm p50 duration (ms)"));
    assert!(html.contains("emulated"));
    assert!(html.contains("class=\"rec chosen\""));
}

#[test]
fn text_has_an_aligned_table_with_every_column() {
    let r = report(&mixed(200.0));
    let text = render_text(&r);
    let lines: Vec<&str> = text.lines().collect();
    let header_at = lines
        .iter()
        .position(|l| l.starts_with("config"))
        .expect("header");
    let header = lines[header_at];
    let mut from = 0;
    for (name, _) in render::text_columns() {
        let at = header[from..]
            .find(name)
            .unwrap_or_else(|| panic!("{name} in {header}"));
        from += at + name.len();
    }
    let rows = &lines[header_at + 1..header_at + 4];
    for row in rows {
        assert_eq!(row.chars().count(), header.chars().count(), "{row}");
    }
    assert!(rows[0].starts_with("x86_64/512 "));
    assert!(rows[2].starts_with("arm64/512 (emulated)"));
    assert!(rows[2].contains("emulated"));
    // Right-aligned figures end where their header ends.
    let end = header.find("$/1M").expect("$/1M") + "$/1M".len();
    for row in rows {
        assert!(row[..end].ends_with(|c: char| c.is_ascii_digit()), "{row}");
    }
    assert!(text.contains("Recommendations"));
    assert!(text.contains("balanced (chosen): "));
    assert!(text.contains("Notes"));
}

#[test]
fn json_has_the_documented_top_level_fields_and_round_trips() {
    let r = report(&mixed(200.0));
    let json = render_json(&r);
    let value: Value = serde_json::from_str(&json).expect("json");
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "configurations",
            "equivalence",
            "execution",
            "function",
            "host_architecture",
            "memory_findings",
            "notes",
            "payloads",
            "prices",
            "recommendations",
            "recommended",
            "region",
            "schema_version",
            "settings"
        ]
    );
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["configurations"][2]["execution"], "emulated");
    assert_eq!(value["configurations"][2]["emulated"], true);
    assert_eq!(value["recommendations"]["chosen"], "balanced");
    assert_eq!(value["recommendations"]["balanced"]["chosen"], true);
    assert!(
        value["recommendations"]["speed_verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("not judged: "))
    );
    // serde_json reads floats to within an ulp, so compare what the read report writes.
    let back: Report = serde_json::from_str(&json).expect("round trip");
    assert_eq!(serde_json::to_value(&back).expect("json"), value);
    assert_eq!(back.configurations, r.configurations);
}

#[test]
fn input_reads_from_json_with_defaults() {
    let i: ComparisonInput = serde_json::from_value(json!({
        "function": "f", "region": "us-east-1", "host_architecture": "arm64",
        "settings": {"invocations_per_payload": 1, "concurrency": 1, "cold_per_configuration": 0,
                     "strategy": "speed", "monthly_invocations": 5},
        "payloads": [],
        "configurations": [{"label": "arm64/128", "version": "2", "architecture": "arm64",
                            "memory_mb": 128, "ephemeral_storage_mb": 512,
                            "execution": "native", "samples": []}]
    }))
    .expect("input");
    assert_eq!(i.settings.balanced_weight, 0.5);
    assert_eq!(i.settings.float_tolerance, 1e-9);
    assert_eq!(i.configurations[0].execution, Execution::Native);
    let err = serde_json::from_value::<ConfigurationRun>(json!({"label": "a", "version": "1",
        "architecture": "arm64", "memory_mb": 128, "ephemeral_storage_mb": 512,
        "execution": "qemu", "samples": []}))
    .expect_err("not an execution");
    assert!(err.to_string().contains("unknown variant `qemu`"), "{err}");
    assert_eq!(
        "Balanced".parse::<Strategy>().ok(),
        Some(Strategy::Balanced)
    );
    assert!("fastest".parse::<Strategy>().is_err());
}

#[test]
fn empty_and_degenerate_inputs_do_not_panic() {
    // No payloads, no samples: a report with nothing judged.
    let mut i = input(
        Architecture::X86_64,
        vec![
            config("x86_64/512", 512, Execution::Native, vec![]),
            config("arm64/512", 512, Execution::Emulated, vec![]),
        ],
    );
    i.payloads.clear();
    i.settings.monthly_invocations = 0;
    let r = report(&i);
    assert_eq!(r.recommended, None);
    assert!(r.equivalence.equivalent);
    assert!(r.recommendations.speed_verdict.starts_with("not judged: "));
    assert!(
        r.configurations
            .iter()
            .all(|c| c.cost.is_none() && c.max_memory_used_mb.is_none())
    );
    for format in Format::ALL {
        assert!(!render(&r, format).is_empty());
    }

    // Only cold starts; zero durations; a single configuration; zero monthly invocations.
    let mut i = input(
        Architecture::X86_64,
        vec![config(
            "x86_64/512",
            512,
            Execution::Native,
            vec![cold(0, 0, 0.0, 0.0, json!(1))],
        )],
    );
    i.payloads.truncate(1);
    i.settings.monthly_invocations = 0;
    let r = report(&i);
    assert_eq!(r.recommended, None);
    assert!(r.notes.iter().any(|n| n.contains("no warm invocations")));
    let mut zero = i.clone();
    zero.configurations[0].samples = vec![warm(0, 0, 0.0, json!(1))];
    let r = report(&zero);
    assert_eq!(r.recommended.as_deref(), Some("x86_64/512"));
    assert_eq!(
        r.configurations[0].cost.as_ref().map(|c| c.monthly_usd),
        Some(0.0)
    );
    for format in Format::ALL {
        assert!(!render(&r, format).is_empty());
    }
}

#[test]
fn invalid_inputs_are_errors() {
    let book = book();
    let mut i = three_sizes();
    i.configurations.clear();
    assert!(matches!(
        build_report(&i, &book),
        Err(CompareError::NoConfigurations)
    ));

    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        let mut i = three_sizes();
        i.configurations[1].samples[2].duration_ms = bad;
        let err = build_report(&i, &book).expect_err("bad duration");
        assert!(
            matches!(err, CompareError::InvalidSample { index: 2, .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .starts_with("configuration x86_64/512, sample 2: duration_ms is"),
            "{err}"
        );
    }
    let mut i = three_sizes();
    i.configurations[0].samples[0].init_duration_ms = Some(f64::NAN);
    assert!(build_report(&i, &book).is_err());

    let mut i = three_sizes();
    i.configurations[0].samples[0].payload = 7;
    let err = build_report(&i, &book).expect_err("payload");
    assert!(
        err.to_string().contains("payload 7 does not exist"),
        "{err}"
    );

    let mut i = three_sizes();
    i.configurations[2].label = "x86_64/128".to_string();
    let err = build_report(&i, &book).expect_err("duplicate");
    assert!(
        matches!(
            err,
            CompareError::BadLabel {
                index: 2,
                why: "used twice",
                ..
            }
        ),
        "{err}"
    );

    for w in [1.5, -0.1, f64::NAN] {
        let mut i = three_sizes();
        i.settings.balanced_weight = w;
        assert!(matches!(
            build_report(&i, &book),
            Err(CompareError::InvalidSetting {
                name: "balanced_weight",
                ..
            })
        ));
    }
    let mut i = three_sizes();
    i.settings.float_tolerance = -1.0;
    assert!(build_report(&i, &book).is_err());

    let mut i = three_sizes();
    i.configurations[0].memory_mb = 64;
    let err = build_report(&i, &book).expect_err("64 MB");
    assert!(
        matches!(err, CompareError::InvalidConfiguration { .. }),
        "{err}"
    );

    let mut i = three_sizes();
    i.region = "eu-west-3".to_string();
    let err = build_report(&i, &book).expect_err("region");
    assert!(
        matches!(
            err,
            CompareError::Prices(PricingError::UnknownRegion { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("no prices for region eu-west-3"),
        "{err}"
    );
}

#[test]
fn speed_ties_go_to_the_lower_cost() {
    let i = input(
        Architecture::X86_64,
        vec![
            config("x86_64/1024", 1024, Execution::Native, timed(&[20.0; 3])),
            config("x86_64/512", 512, Execution::Native, timed(&[20.0; 3])),
        ],
    );
    let r = report(&i);
    assert_eq!(
        r.recommendations.speed.configuration.as_deref(),
        Some("x86_64/512")
    );
}

#[test]
fn extreme_figures_render_without_panicking() {
    let mut huge = warm(
        0,
        u32::MAX,
        f64::MAX,
        json!({"k": [f64::MAX, -0.0, u64::MAX, i64::MIN]}),
    );
    huge.billed_duration_ms = u64::MAX;
    huge.max_memory_used_mb = u64::MAX;
    let mut odd = failed(0, 0, f64::MIN_POSITIVE, "");
    odd.status = 0;
    let mut i = input(
        Architecture::Arm64,
        vec![
            config(
                "x86_64/10240 ✓",
                10_240,
                Execution::Emulated,
                vec![huge.clone(), odd],
            ),
            config(
                "arm64/128",
                128,
                Execution::Native,
                vec![huge, warm(0, 1, 0.0, json!(null))],
            ),
        ],
    );
    i.payloads.truncate(1);
    i.configurations[0].ephemeral_storage_mb = 10_240;
    i.settings.monthly_invocations = u64::MAX;
    i.settings.float_tolerance = f64::MAX;
    let r = report(&i);
    assert_eq!(r.configurations[0].errors.get("(no type)"), Some(&1));
    for format in Format::ALL {
        assert!(!render(&r, format).is_empty());
    }
}
