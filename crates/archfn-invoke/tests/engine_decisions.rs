//! The engine's decisions, against archfn-sandbox's `FakeHost` (no root, no QEMU, no
//! bubblewrap): reuse of warm environments, cold starts, crashes, timeouts, out of memory,
//! function errors, init errors, the init window, launch refusals, the freezer, the memory
//! budget. The fake runs a scripted runtime that speaks the real Runtime API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use archfn_invoke::{
    Engine, EngineConfig, InvokeError, InvokeOutcome, InvokeRequest, ResponsePart, Target,
};
use archfn_model::{Architecture, CodeLocation, FunctionConfig, PackageType, State};
use archfn_sandbox::fake::FakeHost;
use archfn_sandbox::netns::FunctionNetwork;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Setup {
    _dir: tempfile::TempDir,
    engine: Engine,
    host: Arc<FakeHost>,
    task_dir: std::path::PathBuf,
}

/// An engine on a fake host, with `provided.al2023` "installed" for x86_64.
fn setup(
    memory_budget_mb: u64,
    init_timeout: Duration,
) -> Result<Setup, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let runtimes = dir.path().join("runtimes");
    let rt = runtimes.join("provided.al2023").join("x86_64");
    std::fs::create_dir_all(rt.join("rootfs/etc"))?;
    let packages = archfn_sandbox::rootfs::recipe("provided.al2023")?.packages;
    std::fs::write(
        rt.join("installed.json"),
        serde_json::json!({"runtime": "provided.al2023", "architecture": "x86_64", "suite": "bookworm",
                           "packages": packages, "installed_ms": 0})
        .to_string(),
    )?;
    let task_dir = dir.path().join("task");
    std::fs::create_dir_all(&task_dir)?;
    std::fs::write(task_dir.join("bootstrap"), "#!/bin/sh\n")?;
    let host = FakeHost::new();
    let engine = Engine::with_host(
        EngineConfig {
            runtimes_dir: runtimes,
            work_dir: dir.path().join("work"),
            idle_timeout: Duration::from_secs(300),
            init_timeout,
            instance: "test".into(),
            network: FunctionNetwork::None,
            sandbox_uid_base: 0x7000_0000,
            max_environment_memory_mb: memory_budget_mb,
            max_environment_pids: 1024,
            cpu_limit: None,
            record_metrics: true,
            isa_enforced: true,
            favor_cgroup_moves: false,
            log_sink: None,
        },
        host.clone(),
    )?;
    Ok(Setup {
        _dir: dir,
        engine,
        host,
        task_dir,
    })
}

fn config(script: &str, memory_mb: u32, timeout_s: u32) -> FunctionConfig {
    FunctionConfig {
        name: format!("f-{}", script.replace(':', "-")),
        version: "$LATEST".into(),
        runtime: Some("provided.al2023".into()),
        handler: Some(script.into()),
        role: "arn:aws:iam::123456789012:role/r".into(),
        description: String::new(),
        timeout_s,
        memory_mb,
        ephemeral_storage_mb: 512,
        architecture: Architecture::X86_64,
        package_type: PackageType::Zip,
        code: CodeLocation {
            sha256: String::new(),
            size: 0,
            unzipped_size: 0,
            source: archfn_model::Code::Zip { digest: "d".into() },
            image_uri: None,
        },
        environment: None,
        layers: Vec::new(),
        tracing_mode: "PassThrough".into(),
        state: State::Active,
        state_reason: None,
        state_reason_code: None,
        last_update_status: None,
        last_update_status_reason: None,
        last_update_status_reason_code: None,
        revision_id: "rev-1".into(),
        last_modified_ms: 0,
        opaque: BTreeMap::new(),
        logging: None,
    }
}

async fn invoke(
    s: &Setup,
    config: &FunctionConfig,
    payload: &str,
) -> Result<InvokeOutcome, InvokeError> {
    s.engine
        .invoke(InvokeRequest {
            target: Target {
                region: "us-east-1".into(),
                config: config.clone(),
                task_dir: s.task_dir.clone(),
                layer_dirs: Vec::new(),
                image: None,
            },
            invoked_arn: format!(
                "arn:aws:lambda:us-east-1:123456789012:function:{}",
                config.name
            ),
            payload: bytes::Bytes::from(payload.to_string()),
            client_context: None,
            alias: None,
        })
        .await
}

fn error_of(o: &InvokeOutcome) -> (String, String) {
    let v: serde_json::Value = serde_json::from_slice(&o.payload).unwrap_or_default();
    (
        v["errorType"].as_str().unwrap_or("").to_string(),
        v["errorMessage"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn a_warm_environment_is_reused_and_a_cold_one_started_once() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    let c = config("echo", 128, 3);
    let first = invoke(&s, &c, r#"{"n":1}"#).await?;
    assert_eq!(first.payload.as_ref(), br#"{"n":1}"#);
    assert!(first.figures.cold && first.function_error.is_none());
    assert!(
        first
            .log
            .contains("INIT_START Runtime Version: provided.al2023.archfn"),
        "{}",
        first.log
    );
    assert!(
        first.log.contains("REPORT RequestId:") && first.log.contains("Init Duration"),
        "{}",
        first.log
    );
    let second = invoke(&s, &c, r#"{"n":2}"#).await?;
    assert_eq!(second.payload.as_ref(), br#"{"n":2}"#);
    assert!(!second.figures.cold && !second.log.contains("Init Duration"));
    assert_eq!(s.host.count("spawn"), 1);
    assert_eq!(s.host.count("prepare memory=128 tmp=512"), 1);
    assert_eq!(s.host.count("ensure x86_64"), 1);
    // Ended on purpose: the next one is cold.
    assert_eq!(s.engine.end_idle("us-east-1", &c.name, "$LATEST"), 1);
    assert!(invoke(&s, &c, "{}").await?.figures.cold);
    assert_eq!(s.host.count("spawn"), 2);
    Ok(())
}

#[tokio::test]
async fn a_crash_a_timeout_and_oom_discard_the_environment_a_handled_error_keeps_it() -> TestResult
{
    let s = setup(4096, Duration::from_secs(10))?;
    let crash = invoke(&s, &config("crash", 128, 3), "{}").await?;
    assert_eq!(
        error_of(&crash),
        (
            "Runtime.ExitError".into(),
            format!(
                "RequestId: {} Error: Runtime exited with error: exit status 1",
                crash.request_id
            )
        )
    );
    assert!(
        crash
            .log
            .contains("Status: error\tError Type: Runtime.ExitError"),
        "{}",
        crash.log
    );
    let silent = invoke(&s, &config("exit0", 128, 3), "{}").await?;
    assert!(
        error_of(&silent)
            .1
            .ends_with("Runtime exited without providing a reason")
    );
    let oom = invoke(&s, &config("oom", 128, 3), "{}").await?;
    assert_eq!(error_of(&oom).0, "Runtime.OutOfMemory");
    let hang = config("hang", 128, 1);
    let timeout = invoke(&s, &hang, "{}").await?;
    assert_eq!(
        error_of(&timeout),
        (
            "Sandbox.Timedout".into(),
            format!(
                "RequestId: {} Error: Task timed out after 1.00 seconds",
                timeout.request_id
            )
        )
    );
    assert!(timeout.log.contains("Task timed out after 1.00 seconds"));
    // The timed-out runtime is killed (by the environment's waiter, just after).
    for _ in 0..100 {
        if s.host.count("kill") > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(s.host.count("kill") >= 1, "{:?}", s.host.events());
    // None of them kept its environment.
    assert_eq!(s.engine.idle_environments(), 0);
    let error = config("error", 128, 3);
    let handled = invoke(&s, &error, "{}").await?;
    assert_eq!(handled.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(
        error_of(&handled),
        ("ValueError".into(), "asked to fail".into())
    );
    assert_eq!(handled.figures.error_type.as_deref(), Some("ValueError"));
    assert_eq!(s.engine.idle_environments(), 1);
    assert!(!invoke(&s, &error, "{}").await?.figures.cold);
    Ok(())
}

#[tokio::test]
async fn an_init_error_fails_the_invocation_with_the_runtimes_report() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    let o = invoke(&s, &config("init-error", 128, 3), "{}").await?;
    assert_eq!(error_of(&o).0, "Runtime.ImportModuleError");
    assert!(
        o.log.contains("INIT_REPORT") && o.log.contains("Error Type: Runtime.ImportModuleError"),
        "{}",
        o.log
    );
    assert!(o.figures.cold && s.engine.idle_environments() == 0);
    Ok(())
}

#[tokio::test]
async fn an_init_past_the_window_runs_again_inside_the_invoke() -> TestResult {
    let s = setup(4096, Duration::from_millis(300))?;
    let o = invoke(&s, &config("slow-init:600", 128, 5), r#""x""#).await?;
    assert_eq!(o.payload.as_ref(), br#""x""#);
    assert!(o.log.contains("Phase: init\tStatus: timeout"), "{}", o.log);
    // The second init is billed as the invoke: no Init Duration, and a Duration that holds it.
    let report = o
        .log
        .lines()
        .find(|l| l.starts_with("REPORT"))
        .unwrap_or_default();
    assert!(!report.contains("Init Duration"), "{report}");
    assert!(o.figures.duration_ms >= 600.0, "{}", o.figures.duration_ms);
    assert_eq!(s.host.count("spawn"), 2);
    Ok(())
}

#[tokio::test]
async fn a_bootstrap_of_the_other_isa_is_refused_before_anything_starts() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    // An ELF header of an aarch64 executable.
    let mut elf = vec![0u8; 64];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 1;
    elf[18] = 183;
    std::fs::write(s.task_dir.join("bootstrap"), &elf)?;
    let o = invoke(&s, &config("echo", 128, 3), "{}").await?;
    let (kind, message) = error_of(&o);
    assert_eq!(kind, "Runtime.InvalidEntrypoint");
    assert!(
        message.contains("fork/exec /var/task/bootstrap: exec format error"),
        "{message}"
    );
    assert_eq!(s.host.count("spawn"), 0);
    assert_eq!(s.host.count("prepare"), 0);
    Ok(())
}

#[tokio::test]
async fn idle_environments_are_frozen_and_thawed_when_taken() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    let c = config("print:hello from the fake", 128, 3);
    let o = invoke(&s, &c, "{}").await?;
    assert!(o.log.contains("hello from the fake"), "{}", o.log);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.host.count("freeze"), 1, "{:?}", s.host.events());
    invoke(&s, &c, "{}").await?;
    assert_eq!(s.host.count("thaw"), 1, "{:?}", s.host.events());
    Ok(())
}

#[tokio::test]
async fn the_memory_budget_ends_idle_environments_then_throttles() -> TestResult {
    let s = setup(256, Duration::from_secs(10))?;
    let a = config("echo", 256, 3);
    invoke(&s, &a, "{}").await?;
    assert_eq!(s.engine.idle_environments(), 1);
    // Another function needs the budget: the idle one is ended for it.
    let mut b = config("echo", 256, 3);
    b.name = "other".into();
    invoke(&s, &b, "{}").await?;
    assert_eq!(s.engine.idle_environments(), 1);
    // More than the whole budget: throttled.
    let big = config("echo", 512, 3);
    match invoke(&s, &big, "{}").await {
        Err(InvokeError::Throttled(m)) => assert!(m.starts_with("Rate Exceeded."), "{m}"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn shutdown_ends_idle_environments_and_the_host() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    invoke(&s, &config("echo", 128, 3), "{}").await?;
    s.engine.shutdown();
    assert_eq!(s.engine.idle_environments(), 0);
    assert_eq!(s.host.count("shutdown"), 1);
    Ok(())
}

fn target_of(s: &Setup, config: &FunctionConfig) -> Target {
    Target {
        region: "us-east-1".into(),
        config: config.clone(),
        task_dir: s.task_dir.clone(),
        layer_dirs: Vec::new(),
        image: None,
    }
}

#[tokio::test]
async fn provisioned_environments_serve_first_without_a_cold_start_and_are_replaced() -> TestResult
{
    let s = setup(4096, Duration::from_secs(10))?;
    let mut c = config("print:hello", 128, 3);
    c.version = "1".into();
    let arn = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}:1",
        c.name
    );
    let status = s.engine.provision(&target_of(&s, &c), &arn, 2).await;
    assert_eq!((status.ready, status.failure), (2, None));
    assert_eq!(s.host.count("spawn"), 2);
    let o = invoke(&s, &c, "{}").await?;
    assert!(!o.figures.cold, "{}", o.log);
    assert!(!o.log.contains("Init Duration"), "{}", o.log);
    assert_eq!(s.host.count("spawn"), 2, "no cold start");
    // Never ended for idleness nor by end_idle; still two.
    assert_eq!(s.engine.end_idle("us-east-1", &c.name, "1"), 0);
    assert_eq!(s.engine.provisioned_environments(&target_of(&s, &c)), 2);
    // Provisioning again changes nothing; asking for fewer ends the surplus.
    assert_eq!(
        s.engine.provision(&target_of(&s, &c), &arn, 2).await.ready,
        2
    );
    assert_eq!(s.host.count("spawn"), 2);
    assert_eq!(
        s.engine.provision(&target_of(&s, &c), &arn, 1).await.ready,
        1
    );
    assert_eq!(s.engine.provisioned_environments(&target_of(&s, &c)), 1);
    // Released: the next invocation is a cold start.
    assert_eq!(s.engine.release_provisioned("us-east-1", &c.name, "1"), 1);
    assert!(s.engine.provisioned_versions().is_empty());
    assert!(invoke(&s, &c, "{}").await?.figures.cold);
    Ok(())
}

#[tokio::test]
async fn a_provisioned_environment_that_crashes_is_replaced_and_an_init_error_fails() -> TestResult
{
    let s = setup(4096, Duration::from_secs(10))?;
    let mut c = config("crash", 128, 3);
    c.version = "1".into();
    let arn = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}:1",
        c.name
    );
    assert_eq!(
        s.engine.provision(&target_of(&s, &c), &arn, 1).await.ready,
        1
    );
    let o = invoke(&s, &c, "{}").await?;
    assert!(!o.figures.cold);
    assert_eq!(error_of(&o).0, "Runtime.ExitError");
    assert_eq!(s.engine.provisioned_environments(&target_of(&s, &c)), 0);
    assert_eq!(
        s.engine.provision(&target_of(&s, &c), &arn, 1).await.ready,
        1
    );
    assert_eq!(s.host.count("spawn"), 2);

    let mut bad = config("init-error", 128, 3);
    bad.version = "1".into();
    let status = s.engine.provision(&target_of(&s, &bad), &arn, 2).await;
    assert_eq!(status.ready, 0);
    assert_eq!(
        status.failure.as_deref(),
        Some("FUNCTION_ERROR_INIT_FAILURE")
    );

    // More than the host's memory: failed with archfn's reason.
    let mut big = config("echo", 8192, 3);
    big.version = "1".into();
    big.name = "big".into();
    let status = s.engine.provision(&target_of(&s, &big), &arn, 1).await;
    assert!(
        status
            .failure
            .as_deref()
            .is_some_and(|f| f.starts_with("INSUFFICIENT_HOST_MEMORY")),
        "{status:?}"
    );
    Ok(())
}

fn data(text: &str) -> ResponsePart {
    ResponsePart::Data(bytes::Bytes::from(text.to_string()))
}

fn request(s: &Setup, config: &FunctionConfig, payload: &str) -> InvokeRequest {
    InvokeRequest {
        target: Target {
            region: "us-east-1".into(),
            config: config.clone(),
            task_dir: s.task_dir.clone(),
            layer_dirs: Vec::new(),
            image: None,
        },
        invoked_arn: format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            config.name
        ),
        payload: bytes::Bytes::from(payload.to_string()),
        client_context: None,
        alias: None,
    }
}

/// Starts a streaming invocation; returns the parts' receiver and the invocation's task.
fn invoke_streaming(
    s: &Setup,
    config: &FunctionConfig,
) -> (
    tokio::sync::mpsc::Receiver<ResponsePart>,
    tokio::task::JoinHandle<Result<InvokeOutcome, InvokeError>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let engine = s.engine.clone();
    let req = request(s, config, "{}");
    let task = tokio::spawn(async move { engine.invoke_streaming(req, "req-1".into(), tx).await });
    (rx, task)
}

#[tokio::test]
async fn a_streamed_answer_reaches_the_caller_chunk_by_chunk_before_it_ends() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    let c = config("stream:one,two,three", 128, 10);
    let (mut chunks, task) = invoke_streaming(&s, &c);
    assert_eq!(
        chunks.recv().await,
        Some(ResponsePart::Begin {
            content_type: "application/octet-stream".into()
        })
    );
    let first = tokio::time::timeout(Duration::from_secs(5), chunks.recv()).await?;
    assert_eq!(first, Some(data("one")));
    assert!(
        !task.is_finished(),
        "the first chunk arrives while the function still runs"
    );
    let mut rest = Vec::new();
    while let Some(ResponsePart::Data(chunk)) = chunks.recv().await {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"twothree");
    let outcome = task.await??;
    assert!(outcome.streamed);
    assert_eq!(outcome.request_id, "req-1");
    assert_eq!(outcome.function_error, None);
    assert!(outcome.payload.is_empty(), "the body went to the sink");
    assert!(outcome.log.contains("START RequestId: req-1"));
    assert!(outcome.log.contains("REPORT RequestId: req-1"));
    assert!(!outcome.log.contains("Status: error"));
    // The environment serves again, warm.
    let (mut chunks, task) = invoke_streaming(&s, &c);
    while chunks.recv().await.is_some() {}
    let again = task.await??;
    assert!(!again.figures.cold);
    assert_eq!(s.host.count("spawn"), 1);
    Ok(())
}

#[tokio::test]
async fn an_error_in_the_trailers_ends_a_stream_as_a_function_error() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    let c = config("stream-error:partial", 128, 10);
    let (mut chunks, task) = invoke_streaming(&s, &c);
    assert!(matches!(
        chunks.recv().await,
        Some(ResponsePart::Begin { .. })
    ));
    assert_eq!(chunks.recv().await, Some(data("partial")));
    assert!(chunks.recv().await.is_none());
    let outcome = task.await??;
    assert!(outcome.streamed);
    assert_eq!(outcome.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(outcome.figures.error_type.as_deref(), Some("ValueError"));
    assert_eq!(
        error_of(&outcome),
        ("ValueError".to_string(), "mid-stream".to_string())
    );
    // A handler's error keeps the environment, as on Lambda.
    let (mut chunks, task) = invoke_streaming(&s, &c);
    while chunks.recv().await.is_some() {}
    assert!(!task.await??.figures.cold);
    Ok(())
}

#[tokio::test]
async fn a_stream_that_never_ends_times_out() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    let c = config("stream-hang:begun", 128, 1);
    let (mut chunks, task) = invoke_streaming(&s, &c);
    assert!(matches!(
        chunks.recv().await,
        Some(ResponsePart::Begin { .. })
    ));
    assert_eq!(chunks.recv().await, Some(data("begun")));
    let outcome = task.await??;
    assert_eq!(
        outcome.figures.error_type.as_deref(),
        Some("Sandbox.Timedout")
    );
    assert_eq!(
        error_of(&outcome).1,
        "RequestId: req-1 Error: Task timed out after 1.00 seconds"
    );
    assert!(outcome.log.contains("Status: timeout"));
    Ok(())
}

#[tokio::test]
async fn a_whole_answer_and_a_plain_invoke_of_a_streaming_function() -> TestResult {
    let s = setup(4096, Duration::from_secs(10))?;
    // A function that does not stream: its whole answer is the outcome's payload.
    let (mut chunks, task) = invoke_streaming(&s, &config("echo", 128, 10));
    assert!(chunks.recv().await.is_none(), "nothing streamed");
    let outcome = task.await??;
    assert!(!outcome.streamed);
    assert_eq!(outcome.payload.as_ref(), b"{}");
    // A streaming function invoked with plain Invoke: its stream is buffered.
    let outcome = invoke(&s, &config("stream:a,b", 128, 10), "{}").await?;
    assert!(!outcome.streamed);
    assert_eq!(outcome.function_error, None);
    assert_eq!(outcome.payload.as_ref(), b"ab");
    Ok(())
}
