//! Findings and the report, as text (grouped by component, worst first) and JSON.

use archfn_model::Architecture;
use serde::{Deserialize, Serialize};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fine on the target (reported for pure packages, so they are not unknowns).
    Ok,
    /// Worth knowing; does not stop the function.
    Warning,
    /// Will not run on the target.
    Incompatible,
}

/// What kind of evidence a finding rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An ELF executable or shared object.
    Elf,
    /// A Python wheel's tags.
    Wheel,
    /// An npm package's `os`/`cpu` fields.
    NpmPackage,
    /// A Ruby gem's platform (its gemspec).
    Gem,
    /// A Mach-O or PE file (never loaded on Lambda).
    ForeignBinary,
    /// An archive nested deeper than archfn reads.
    NestedArchive,
    /// The function's runtime itself.
    Runtime,
    /// A glibc newer than the runtime's OS offers.
    Glibc,
    /// A container image's platform.
    Image,
    /// A file or part of an archive that could not be read.
    Unreadable,
}

/// One thing found in the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Path inside the artifact (nested archives joined with `!/`).
    pub path: String,
    /// The package it belongs to (`numpy 2.2.6`, `@esbuild/linux-x64 0.25.0`), if known.
    pub component: Option<String>,
    /// Kind of evidence.
    pub kind: Kind,
    /// The architecture found (`x86_64`, `aarch64`, `any`, …).
    pub architecture: Option<String>,
    /// Verdict.
    pub severity: Severity,
    /// What was found.
    pub message: String,
    /// What to do.
    pub advice: Option<String>,
}

impl Finding {
    /// Sets the architecture found.
    pub(crate) fn found(&mut self, architecture: impl Into<String>) -> &mut Finding {
        self.architecture = Some(architecture.into());
        self
    }

    /// Sets what to do.
    pub(crate) fn advise(&mut self, advice: impl Into<String>) -> &mut Finding {
        self.advice = Some(advice.into());
        self
    }
}

/// The outcome of a scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The architecture judged against.
    pub target: Architecture,
    /// True when nothing will fail to run on the target.
    pub compatible: bool,
    /// Files read.
    pub files_scanned: u64,
    /// Native (ELF) files found.
    pub native_files: u64,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Parses a report from its JSON (as the readiness API returns it).
    pub fn from_json(text: &str) -> Result<Report, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub(crate) fn new(
        target: Architecture,
        mut findings: Vec<Finding>,
        files_scanned: u64,
        native_files: u64,
    ) -> Report {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.component.cmp(&b.component))
                .then(a.path.cmp(&b.path))
        });
        let compatible = !findings
            .iter()
            .any(|f| f.severity == Severity::Incompatible);
        Report {
            target,
            compatible,
            files_scanned,
            native_files,
            findings,
        }
    }

    /// JSON, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// SARIF 2.1.0, for code-scanning tools: one result per finding that is not `ok`, with the
    /// rule id `archfn/<kind>` and level `error` (will not run) or `warning`.
    pub fn to_sarif(&self) -> String {
        let results: Vec<serde_json::Value> = self
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Ok)
            .map(|f| {
                let kind = serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                let mut text = f.message.clone();
                if let Some(a) = &f.advice {
                    text.push_str(&format!(". Fix: {a}"));
                }
                serde_json::json!({
                    "ruleId": format!("archfn/{kind}"),
                    "level": if f.severity == Severity::Incompatible { "error" } else { "warning" },
                    "message": { "text": text },
                    "locations": [{ "physicalLocation": { "artifactLocation": { "uri": f.path } } }],
                    "properties": { "component": f.component, "architecture": f.architecture, "target": self.target.as_str() },
                })
            })
            .collect();
        let doc = serde_json::json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": { "driver": { "name": "archfn-scan", "version": env!("CARGO_PKG_VERSION") } },
                "results": results,
            }],
        });
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// A report for people: a verdict line, then findings grouped by component, worst first.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let bad = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Incompatible)
            .count();
        out.push_str(&if self.compatible {
            format!(
                "compatible with {}: {} files read, {} native\n",
                self.target, self.files_scanned, self.native_files
            )
        } else {
            format!(
                "NOT compatible with {}: {bad} file(s) will not run ({} files read, {} native)\n",
                self.target, self.files_scanned, self.native_files
            )
        });
        let mut last_component: Option<&Option<String>> = None;
        for f in &self.findings {
            if last_component != Some(&f.component) {
                out.push_str(&format!(
                    "\n{}\n",
                    f.component.as_deref().unwrap_or("(no package)")
                ));
                last_component = Some(&f.component);
            }
            let mark = match f.severity {
                Severity::Incompatible => "✗",
                Severity::Warning => "!",
                Severity::Ok => "✓",
            };
            out.push_str(&format!("  {mark} {}: {}\n", f.path, f.message));
            if let Some(a) = &f.advice {
                out.push_str(&format!("      → {a}\n"));
            }
        }
        out
    }
}
