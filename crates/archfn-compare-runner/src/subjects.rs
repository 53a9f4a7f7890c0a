//! The configurations a comparison runs: one published version per (architecture, memory
//! size), the package rebuilt by `archfn migrate` for an architecture it is not ready for, or
//! the existing versions asked for.

use std::path::Path;

use archfn_control::{Control, ControlError, Invocable, VariantInput};
use archfn_invoke::ExecutionMode;
use archfn_model::metrics::Execution;
use archfn_model::{Architecture, PackageType};
use bytes::Bytes;

use crate::request::{Plan, Subjects};
use crate::{Job, MigrateTools};

/// One configuration, ready to invoke.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    pub label: String,
    pub version: String,
    pub architecture: Architecture,
    pub memory_mb: u32,
    pub ephemeral_storage_mb: u32,
    pub execution: Execution,
    /// What was done to the package for this configuration.
    pub package: Option<String>,
    pub invocable: Invocable,
}

/// Why a comparison could not run: a message, and the scanner's findings when the code
/// cannot be made to run on an architecture.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub message: String,
    pub findings: Vec<String>,
}

impl From<ControlError> for Failure {
    fn from(e: ControlError) -> Self {
        Failure {
            message: e.to_string(),
            findings: Vec::new(),
        }
    }
}

fn execution(arch: Architecture) -> Execution {
    match ExecutionMode::for_arch(arch) {
        ExecutionMode::Native => Execution::Native,
        ExecutionMode::Emulated => Execution::Emulated,
    }
}

/// The incompatible findings of a scan, one line each.
fn blocking(report: &archfn_scan::Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity == archfn_scan::Severity::Incompatible)
        .map(|f| match &f.advice {
            Some(a) => format!("{}: {} ({a})", f.path, f.message),
            None => format!("{}: {}", f.path, f.message),
        })
        .collect()
}

async fn ready(
    control: &Control,
    region: &str,
    function: &str,
    version: &str,
) -> Result<Invocable, Failure> {
    let inv = control
        .resolve_invocation(region, function, Some(version))
        .await?;
    Ok(inv)
}

/// Makes (or finds) every configuration of `plan`.
pub(crate) async fn prepare(
    control: &Control,
    tools: &MigrateTools,
    job: &Job,
    plan: &Plan,
) -> Result<Vec<Subject>, Failure> {
    let (region, function) = (job.region.as_str(), job.function.as_str());
    let mut out = Vec::new();
    match &plan.subjects {
        Subjects::Versions(versions) => {
            for v in versions {
                job.phase(format!("reading version {v}"));
                let inv = ready(control, region, function, v).await?;
                let c = &inv.config;
                out.push(Subject {
                    label: format!("v{v} {}/{}", c.architecture, c.memory_mb),
                    version: v.clone(),
                    architecture: c.architecture,
                    memory_mb: c.memory_mb,
                    ephemeral_storage_mb: c.ephemeral_storage_mb,
                    execution: execution(c.architecture),
                    package: None,
                    invocable: inv,
                });
            }
        }
        Subjects::Build(pairs) => {
            let (latest, zip) = control.latest_code(region, function).await?;
            let mut packages: Vec<(Architecture, Option<Bytes>, Option<String>)> = Vec::new();
            for (arch, _) in pairs {
                if packages.iter().any(|(a, _, _)| a == arch) {
                    continue;
                }
                let (pkg, note) = if *arch == latest.architecture {
                    (None, None)
                } else {
                    package_for(control, tools, job, &latest, zip.clone(), *arch).await?
                };
                packages.push((*arch, pkg, note));
            }
            for (arch, memory) in pairs {
                let memory_mb = memory.unwrap_or(latest.memory_mb);
                let label = format!("{arch}/{memory_mb}");
                job.phase(format!("publishing {label}"));
                let (pkg, note) = packages
                    .iter()
                    .find(|(a, _, _)| a == arch)
                    .map(|(_, p, n)| (p.clone(), n.clone()))
                    .unwrap_or_default();
                let view = control
                    .publish_variant(
                        region,
                        function,
                        VariantInput {
                            architecture: *arch,
                            memory_mb,
                            zip: pkg,
                            description: format!(
                                "archfn compare {}: {arch}, {memory_mb} MB",
                                job.id
                            ),
                        },
                    )
                    .await?;
                let version = view.config.version.clone();
                let inv = ready(control, region, function, &version).await?;
                out.push(Subject {
                    label,
                    version,
                    architecture: *arch,
                    memory_mb,
                    ephemeral_storage_mb: inv.config.ephemeral_storage_mb,
                    execution: execution(*arch),
                    package: note,
                    invocable: inv,
                });
            }
        }
    }
    Ok(out)
}

/// The package for `target`: `$LATEST`'s when the scanner finds nothing that will not run
/// there, else one rebuilt by `archfn migrate`, scanned again.
async fn package_for(
    control: &Control,
    tools: &MigrateTools,
    job: &Job,
    latest: &archfn_model::FunctionConfig,
    zip: Option<Bytes>,
    target: Architecture,
) -> Result<(Option<Bytes>, Option<String>), Failure> {
    let (region, function) = (job.region.as_str(), job.function.as_str());
    job.phase(format!("scanning the package for {target}"));
    let report = control.readiness(region, function, None, target).await?;
    if report.compatible {
        return Ok((
            None,
            Some(format!(
                "the package runs on {target} as it is (archfn scan found nothing that will not)"
            )),
        ));
    }
    let findings = blocking(&report);
    let language = match latest.runtime.as_deref() {
        Some(r) if r.starts_with("python") => archfn_migrate::Language::Python,
        Some(r) if r.starts_with("nodejs") => archfn_migrate::Language::Node,
        _ => {
            return Err(Failure {
                message: format!(
                    "the package will not run on {target} and archfn migrate rebuilds only Python and Node.js packages; build it for {target}, or compare existing versions"
                ),
                findings,
            });
        }
    };
    let (Some(zip), PackageType::Zip) = (zip, latest.package_type) else {
        return Err(Failure {
            message: format!(
                "the image will not run on {target}: build an image for {target}, then compare the two versions"
            ),
            findings,
        });
    };
    job.phase(format!(
        "rebuilding the package for {target} (archfn migrate)"
    ));
    let runtime = latest
        .runtime
        .as_deref()
        .and_then(archfn_model::runtime::lookup);
    let opts = archfn_migrate::Options {
        language,
        target,
        python: tools.python.clone(),
        python_version: runtime
            .and_then(|r| r.id.strip_prefix("python"))
            .map(str::to_string),
        glibc: runtime.map_or(archfn_model::OsFamily::AmazonLinux2.glibc(), |r| {
            r.os.glibc()
        }),
        npm: tools.npm.clone(),
    };
    let migrated = tokio::task::spawn_blocking(move || migrate(&zip, &opts))
        .await
        .map_err(|e| Failure {
            message: format!("archfn migrate stopped: {e}"),
            findings: Vec::new(),
        })?
        .map_err(|message| Failure {
            message,
            findings: findings.clone(),
        })?;
    let (rebuilt, outcome) = migrated;
    let after = control
        .readiness_of_package(region, function, rebuilt.clone(), target)
        .await?;
    if !after.compatible {
        return Err(Failure {
            message: format!(
                "the package rebuilt by archfn migrate still will not run on {target}{}",
                if outcome.left.is_empty() {
                    String::new()
                } else {
                    format!(" (not swapped: {})", outcome.left.join("; "))
                }
            ),
            findings: blocking(&after),
        });
    }
    let mut note = format!("rebuilt for {target} by archfn migrate");
    if !outcome.swapped.is_empty() {
        note.push_str(&format!(": {}", outcome.swapped.join("; ")));
    }
    Ok((Some(rebuilt), Some(note)))
}

/// Runs `archfn migrate` on `zip` in a temporary directory.
fn migrate(
    zip: &[u8],
    opts: &archfn_migrate::Options,
) -> Result<(Bytes, archfn_migrate::Outcome), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (input, output) = (dir.path().join("in.zip"), dir.path().join("out.zip"));
    std::fs::write(&input, zip).map_err(|e| e.to_string())?;
    let outcome = archfn_migrate::migrate(&input, &output, opts, &mut |line| {
        tracing::info!("archfn migrate: {line}")
    })
    .map_err(|e| format!("archfn migrate failed: {e}"))?;
    let bytes = read(&output)?;
    Ok((Bytes::from(bytes), outcome))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}
