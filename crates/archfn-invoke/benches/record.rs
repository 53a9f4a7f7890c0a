//! What recording an invocation's metrics costs on the invoke path: `Aggregate::record` of a
//! warm invocation through an alias, on 1 and 4 threads at once (as concurrent invocations
//! record), without and with a traffic shift's watch of that alias, against the same loop
//! with recording switched off. `cargo bench -p archfn-invoke --bench record`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use archfn_invoke::aggregate::{Aggregate, Observation, Series};
use archfn_model::Architecture;
use archfn_model::metrics::Execution;

const PER_THREAD: u64 = 2_000_000;

fn series(version: &str) -> Series<'_> {
    Series {
        region: "us-east-1",
        function: "bench",
        version,
        alias: Some("live"),
        arch: Architecture::X86_64,
        execution: Execution::Native,
    }
}

/// Nanoseconds per record, with `threads` threads recording at once.
fn measure(aggregate: &Arc<Aggregate>, threads: u64) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let a = aggregate.clone();
            std::thread::spawn(move || {
                let version = if t % 2 == 0 { "1" } else { "2" };
                for i in 0..PER_THREAD {
                    a.record(
                        black_box(series(version)),
                        black_box(29_000_000),
                        Observation {
                            duration_us: Some(200 + (i % 4_000)),
                            billed_ms: 1,
                            max_memory_mb: 20,
                            ..Observation::default()
                        },
                    );
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    started.elapsed().as_nanos() as f64 / (PER_THREAD * threads) as f64
}

fn main() {
    println!("| recording | threads | ns per invocation (wall / invocations) |");
    println!("|---|---|---|");
    for threads in [1u64, 4] {
        for (label, enabled, watch) in [
            ("off", false, false),
            ("on", true, false),
            ("on + shift watch", true, true),
        ] {
            let aggregate = Arc::new(Aggregate::new(enabled));
            let _watch = watch.then(|| aggregate.watch("us-east-1", "bench", "live"));
            measure(&aggregate, threads); // warm up
            let ns = measure(&aggregate, threads);
            println!("| {label} | {threads} | {ns:.1} |");
        }
    }
}
