//! The invocations of a comparison: cold starts, then warm rounds, each round visiting every
//! configuration with every payload, the configurations' order rotated round by round, so
//! that drift on the machine (another process, a warming cache) hits every configuration
//! alike.

use std::time::{Duration, Instant};

use archfn_compare::Sample;
use archfn_invoke::{Engine, InvokeError, InvokeRequest, Target};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::Job;
use crate::request::Plan;
use crate::subjects::Subject;

/// Where a comparison's time went.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// Publishing configurations (and rebuilding packages), milliseconds.
    pub preparing_ms: f64,
    /// From the first invocation to the last answer, milliseconds.
    pub measuring_ms: f64,
    /// Of that, time with invocations in flight (a concurrent batch counts once),
    /// milliseconds; the rest is the comparison's own orchestration.
    pub invoking_ms: f64,
    /// The sum of every invocation's own time in the engine (`Engine::invoke`, call to
    /// answer), milliseconds: with concurrency 1, what the measuring time would be if the
    /// comparison cost nothing.
    pub engine_ms: f64,
    /// Invocations made (warm-up included).
    pub invocations: u64,
}

/// How many invocations `plan` makes with `n` configurations.
pub(crate) fn total(plan: &Plan, n: usize) -> u64 {
    let per = u64::from(plan.cold)
        + u64::from(plan.concurrency)
        + u64::from(plan.invocations) * plan.payloads.len() as u64;
    per * n as u64
}

/// The configurations in `round`'s order.
fn rotated(n: usize, round: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |i| (i + round) % n)
}

/// Text of an answer that is not JSON, cut at 1 KiB.
fn text(payload: &[u8]) -> String {
    let cut = payload.len().min(1024);
    String::from_utf8_lossy(&payload[..cut]).into_owned()
}

/// One invocation of `s` with payload `p`, and how long the engine took.
async fn invoke(
    engine: Engine,
    s: &Subject,
    region: &str,
    payload: Bytes,
    p: usize,
    round: u32,
) -> (Sample, Duration) {
    let inv = &s.invocable;
    let request = InvokeRequest {
        target: Target {
            region: region.to_string(),
            config: inv.config.clone(),
            task_dir: inv.task_dir.clone(),
            layer_dirs: inv.layer_dirs.clone(),
            image: inv.image.clone(),
        },
        invoked_arn: inv.invoked_arn.clone(),
        payload,
        client_context: None,
        alias: None,
    };
    let started = Instant::now();
    let outcome = engine.invoke(request).await;
    let took = started.elapsed();
    let sample = match outcome {
        Ok(o) => {
            let f = o.figures;
            let ok = o.function_error.is_none();
            let response = if ok {
                serde_json::from_slice::<Value>(&o.payload).ok()
            } else {
                None
            };
            Sample {
                payload: p,
                round,
                cold: f.cold,
                duration_ms: f.duration_ms,
                billed_duration_ms: f.billed_ms,
                init_duration_ms: f.init_ms,
                max_memory_used_mb: f.max_memory_used_mb,
                error_type: if ok {
                    None
                } else {
                    Some(f.error_type.unwrap_or_else(|| "Unhandled".into()))
                },
                status: 200,
                response_text: response.is_none().then(|| text(&o.payload)),
                response,
            }
        }
        Err(e) => {
            let (status, kind) = match e {
                InvokeError::Throttled(_) => (429, "TooManyRequestsException"),
                _ => (500, "ServiceException"),
            };
            Sample {
                payload: p,
                round,
                cold: false,
                duration_ms: 0.0,
                billed_duration_ms: 0,
                init_duration_ms: None,
                max_memory_used_mb: 0,
                error_type: Some(kind.into()),
                status,
                response: None,
                response_text: Some(e.to_string()),
            }
        }
    };
    (sample, took)
}

/// What one batch took: its wall time, and the sum of its invocations' times in the engine.
#[derive(Debug, Clone, Copy, Default)]
struct Took {
    wall: Duration,
    engine: Duration,
}

impl std::ops::AddAssign for Took {
    fn add_assign(&mut self, other: Took) {
        self.wall += other.wall;
        self.engine += other.engine;
    }
}

/// `count` invocations of `s` at once; returns their samples and what the batch took.
async fn batch(
    engine: &Engine,
    s: &Subject,
    region: &str,
    payload: &Bytes,
    p: usize,
    round: u32,
    count: u32,
) -> (Vec<Sample>, Took) {
    let started = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..count {
        let (engine, s, region, payload) = (
            engine.clone(),
            s.clone(),
            region.to_string(),
            payload.clone(),
        );
        set.spawn(async move { invoke(engine, &s, &region, payload, p, round).await });
    }
    let mut out = Vec::new();
    let mut in_engine = Duration::ZERO;
    while let Some(r) = set.join_next().await {
        if let Ok((sample, took)) = r {
            out.push(sample);
            in_engine += took;
        }
    }
    let took = Took {
        wall: started.elapsed(),
        engine: in_engine,
    };
    (out, took)
}

/// Runs `plan`'s invocations of `subjects`; returns each configuration's samples.
pub(crate) async fn run(
    engine: &Engine,
    job: &Job,
    plan: &Plan,
    subjects: &[Subject],
) -> (Vec<Vec<Sample>>, Timing) {
    let region = job.region.as_str();
    let payloads: Vec<Bytes> = plan
        .payloads
        .iter()
        .map(|(_, b)| Bytes::from(b.clone()))
        .collect();
    let n = subjects.len();
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); n];
    let mut timing = Timing::default();
    let started = Instant::now();
    let mut invoking = Took::default();
    for c in 0..plan.cold {
        job.phase(format!("cold start {} of {}", c + 1, plan.cold));
        let p = c as usize % payloads.len();
        for i in rotated(n, c as usize) {
            let s = &subjects[i];
            engine.end_idle(region, &s.invocable.config.name, &s.version);
            let (got, took) = batch(engine, s, region, &payloads[p], p, c, 1).await;
            invoking += took;
            job.advance(got.len() as u64);
            samples[i].extend(got);
        }
    }
    // Enough warm environments for the batches, started outside the measurement.
    job.phase("warming up".to_string());
    for s in subjects {
        let (got, took) = batch(engine, s, region, &payloads[0], 0, 0, plan.concurrency).await;
        invoking += took;
        job.advance(got.len() as u64);
    }
    let rounds = plan.invocations.div_ceil(plan.concurrency);
    for r in 0..rounds {
        job.phase(format!("warm round {} of {rounds}", r + 1));
        let count = plan
            .concurrency
            .min(plan.invocations - r * plan.concurrency);
        for (p, payload) in payloads.iter().enumerate() {
            for i in rotated(n, r as usize + p) {
                let (got, took) = batch(engine, &subjects[i], region, payload, p, r, count).await;
                invoking += took;
                job.advance(got.len() as u64);
                samples[i].extend(got);
            }
        }
    }
    timing.measuring_ms = started.elapsed().as_secs_f64() * 1000.0;
    timing.invoking_ms = invoking.wall.as_secs_f64() * 1000.0;
    timing.engine_ms = invoking.engine.as_secs_f64() * 1000.0;
    timing.invocations = job.done();
    (samples, timing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_rotate_the_order_of_configurations() {
        assert_eq!(rotated(3, 0).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(rotated(3, 1).collect::<Vec<_>>(), [1, 2, 0]);
        assert_eq!(rotated(3, 5).collect::<Vec<_>>(), [2, 0, 1]);
        assert_eq!(text(&[b'a'; 5000]).len(), 1024);
    }
}
