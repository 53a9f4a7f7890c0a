//! Runs `archfn compare`: makes one published version per (architecture, memory size) of a
//! function (the package rebuilt by `archfn migrate` for an architecture it is not ready for),
//! invokes every configuration with the same payloads, cold then warm, interleaved round by
//! round, and hands the samples to `archfn-compare` for the report.
//!
//! Owns: comparison jobs (in memory: a comparison is evidence to read, not state to resume;
//! the versions it published stay, as ordinary versions), their progress, `subjects.rs` (the
//! configurations) and `measure.rs` (the invocations).
//! Must not: judge or render (that is `archfn-compare`'s), or touch `$LATEST`.

mod measure;
mod request;
mod subjects;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use archfn_compare::{ComparisonInput, ConfigurationRun, PayloadInfo, Report, Settings};
use archfn_control::{Control, ControlError, NotFoundKind};
use archfn_invoke::Engine;
use archfn_model::Architecture;
use archfn_pricing::PriceBook;
use serde_json::{Value, json};

pub use measure::Timing;
pub use request::{ComparisonRequest, PayloadIn};

/// Finished comparisons kept for reading.
const KEPT: usize = 64;

/// The commands `archfn migrate` runs when a package must be rebuilt.
#[derive(Debug, Clone)]
pub struct MigrateTools {
    /// The Python interpreter whose pip fetches wheels.
    pub python: String,
    /// The npm command.
    pub npm: String,
}

impl Default for MigrateTools {
    fn default() -> Self {
        MigrateTools {
            python: "python3".into(),
            npm: "npm".into(),
        }
    }
}

/// Where a comparison is.
#[derive(Debug, Clone)]
enum State {
    Running,
    Succeeded(Box<(Report, Timing)>),
    Failed {
        message: String,
        findings: Vec<String>,
    },
}

/// One comparison.
#[derive(Debug)]
pub(crate) struct Job {
    pub id: String,
    pub region: String,
    pub function: String,
    created_ms: i64,
    done: AtomicU64,
    total: AtomicU64,
    phase: Mutex<String>,
    versions: Mutex<Vec<Value>>,
    state: Mutex<State>,
}

impl Job {
    pub(crate) fn phase(&self, text: String) {
        tracing::debug!(comparison = %self.id, "{text}");
        if let Ok(mut p) = self.phase.lock() {
            *p = text;
        }
    }

    pub(crate) fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn finish(&self, state: State) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }

    /// The job as JSON (the report included once it is done).
    fn view(&self) -> Value {
        let state = self
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(State::Running);
        let phase = self.phase.lock().map(|p| p.clone()).unwrap_or_default();
        let versions = self.versions.lock().map(|v| v.clone()).unwrap_or_default();
        let mut v = json!({
            "id": self.id,
            "function": self.function,
            "region": self.region,
            "createdMs": self.created_ms,
            "phase": phase,
            "done": self.done(),
            "total": self.total.load(Ordering::Relaxed),
            "configurations": versions,
        });
        match state {
            State::Running => v["status"] = json!("Running"),
            State::Succeeded(b) => {
                v["status"] = json!("Succeeded");
                v["timing"] = serde_json::to_value(b.1).unwrap_or(Value::Null);
                v["report"] = serde_json::to_value(&b.0).unwrap_or(Value::Null);
            }
            State::Failed { message, findings } => {
                v["status"] = json!("Failed");
                v["error"] = json!(message);
                v["findings"] = json!(findings);
            }
        }
        v
    }
}

/// A comparison as a list shows it.
#[derive(Debug, Clone)]
pub struct ComparisonSummary {
    /// Its id.
    pub id: String,
    /// The function's region.
    pub region: String,
    /// The function compared.
    pub function: String,
    /// When it began (Unix ms).
    pub created_ms: i64,
    /// `Running`, `Succeeded` or `Failed`.
    pub status: &'static str,
    /// What it is doing.
    pub phase: String,
    /// Invocations done.
    pub done: u64,
    /// Invocations planned.
    pub total: u64,
}

/// The comparisons of this server.
#[derive(Debug, Clone)]
pub struct Comparisons {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    control: Control,
    engine: Engine,
    prices: Arc<PriceBook>,
    tools: MigrateTools,
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

/// What reading a comparison's report can find.
#[derive(Debug)]
pub enum ReportState {
    /// The report.
    Ready(Box<Report>),
    /// Still running.
    Running,
    /// It failed: why.
    Failed(String),
}

impl Comparisons {
    /// Comparisons run by `engine`, configured through `control`, costed at `prices`.
    pub fn new(
        control: Control,
        engine: Engine,
        prices: Arc<PriceBook>,
        tools: MigrateTools,
    ) -> Self {
        Comparisons {
            inner: Arc::new(Inner {
                control,
                engine,
                prices,
                tools,
                jobs: Mutex::default(),
            }),
        }
    }

    /// Checks `request` and starts comparing `function`'s configurations in the background;
    /// returns the job as JSON.
    pub async fn start(
        &self,
        region: &str,
        function: &str,
        request: ComparisonRequest,
    ) -> Result<Value, ControlError> {
        let plan = request.plan()?;
        if !self.inner.prices.regions().any(|r| r == region) {
            return Err(ControlError::InvalidParameter(format!(
                "The price file has no prices for region {region}"
            )));
        }
        let name = self.inner.control.function_name(region, function).await?;
        let job = Arc::new(Job {
            id: uuid::Uuid::new_v4().to_string(),
            region: region.to_string(),
            function: name,
            created_ms: archfn_model::time::now_ms(),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
            phase: Mutex::new("starting".into()),
            versions: Mutex::default(),
            state: Mutex::new(State::Running),
        });
        if let Ok(mut jobs) = self.inner.jobs.lock() {
            while jobs.len() >= KEPT {
                jobs.pop_front();
            }
            jobs.push_back(job.clone());
        }
        let this = self.clone();
        let view = job.view();
        tokio::spawn(async move {
            let state = this.run(&job, plan).await;
            job.finish(state);
        });
        Ok(view)
    }

    async fn run(&self, job: &Job, plan: request::Plan) -> State {
        let preparing = std::time::Instant::now();
        let subjects =
            match subjects::prepare(&self.inner.control, &self.inner.tools, job, &plan).await {
                Ok(s) => s,
                Err(f) => {
                    return State::Failed {
                        message: f.message,
                        findings: f.findings,
                    };
                }
            };
        if let Ok(mut v) = job.versions.lock() {
            *v = subjects
                .iter()
                .map(|s| {
                    json!({"label": s.label, "version": s.version, "architecture": s.architecture,
                           "memoryMb": s.memory_mb, "execution": s.execution, "package": s.package})
                })
                .collect();
        }
        let preparing_ms = preparing.elapsed().as_secs_f64() * 1000.0;
        job.total
            .store(measure::total(&plan, subjects.len()), Ordering::Relaxed);
        let (samples, mut timing) = measure::run(&self.inner.engine, job, &plan, &subjects).await;
        timing.preparing_ms = preparing_ms;
        job.phase("reporting".into());
        let input = ComparisonInput {
            function: job.function.clone(),
            region: job.region.clone(),
            host_architecture: Architecture::host().unwrap_or(Architecture::X86_64),
            settings: Settings {
                invocations_per_payload: plan.invocations,
                concurrency: plan.concurrency,
                cold_per_configuration: plan.cold,
                strategy: plan.strategy,
                balanced_weight: plan.balanced_weight,
                monthly_invocations: plan.monthly_invocations,
                float_tolerance: plan.float_tolerance,
            },
            payloads: plan
                .payloads
                .iter()
                .map(|(name, b)| PayloadInfo {
                    name: name.clone(),
                    size_bytes: b.len() as u64,
                })
                .collect(),
            configurations: subjects
                .into_iter()
                .zip(samples)
                .map(|(s, samples)| ConfigurationRun {
                    label: s.label,
                    version: s.version,
                    architecture: s.architecture,
                    memory_mb: s.memory_mb,
                    ephemeral_storage_mb: s.ephemeral_storage_mb,
                    execution: s.execution,
                    package: s.package,
                    samples,
                })
                .collect(),
        };
        match archfn_compare::build_report(&input, &self.inner.prices) {
            Ok(report) => {
                job.phase("done".into());
                State::Succeeded(Box::new((report, timing)))
            }
            Err(e) => State::Failed {
                message: format!("the report could not be made: {e}"),
                findings: Vec::new(),
            },
        }
    }

    fn job(&self, id: &str) -> Option<Arc<Job>> {
        self.inner
            .jobs
            .lock()
            .ok()?
            .iter()
            .find(|j| j.id == id)
            .cloned()
    }

    /// Every comparison kept, newest first.
    pub fn list(&self) -> Vec<ComparisonSummary> {
        let jobs: Vec<Arc<Job>> = self
            .inner
            .jobs
            .lock()
            .map(|j| j.iter().cloned().collect())
            .unwrap_or_default();
        let mut out: Vec<ComparisonSummary> = jobs
            .iter()
            .map(|j| ComparisonSummary {
                id: j.id.clone(),
                region: j.region.clone(),
                function: j.function.clone(),
                created_ms: j.created_ms,
                status: match j.state.lock().map(|s| s.clone()).unwrap_or(State::Running) {
                    State::Running => "Running",
                    State::Succeeded(_) => "Succeeded",
                    State::Failed { .. } => "Failed",
                },
                phase: j.phase.lock().map(|p| p.clone()).unwrap_or_default(),
                done: j.done(),
                total: j.total.load(Ordering::Relaxed),
            })
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.created_ms));
        out
    }

    /// A comparison as JSON (`status` Running, Succeeded or Failed; the report when done).
    pub fn get(&self, id: &str) -> Result<Value, ControlError> {
        self.job(id).map(|j| j.view()).ok_or_else(|| {
            ControlError::not_found(
                NotFoundKind::Comparison,
                format!("Comparison not found: {id}"),
            )
        })
    }

    /// A comparison's report.
    pub fn report(&self, id: &str) -> Result<ReportState, ControlError> {
        let job = self.job(id).ok_or_else(|| {
            ControlError::not_found(
                NotFoundKind::Comparison,
                format!("Comparison not found: {id}"),
            )
        })?;
        let state = job
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(State::Running);
        Ok(match state {
            State::Running => ReportState::Running,
            State::Succeeded(b) => ReportState::Ready(Box::new(b.0)),
            State::Failed { message, .. } => ReportState::Failed(message),
        })
    }
}
