//! aws-sdk-lambda (the official Rust SDK, unmodified, custom endpoint) against a real `archfn serve`.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    AliasRoutingConfiguration, Architecture, FunctionCode, Runtime, State,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Result<Server, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(env!("CARGO_BIN_EXE_archfn"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(Server {
                child,
                url,
                _dir: dir,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("archfn did not start".into())
}

async fn client(url: &str) -> Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_lambda::config::Credentials::new(
            "AKID", "secret", None, None, "test",
        ))
        .load()
        .await;
    Client::new(&config)
}

fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in files {
        let _ = w.start_file(*name, zip::write::SimpleFileOptions::default());
        let _ = w.write_all(body.as_bytes());
    }
    w.finish().map(|c| c.into_inner()).unwrap_or_default()
}

async fn wait_active(c: &Client, name: &str) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let conf = c
            .get_function_configuration()
            .function_name(name)
            .send()
            .await?;
        let updated = conf
            .last_update_status()
            .map(|s| s.as_str() == "Successful")
            .unwrap_or(false);
        if conf.state() == Some(&State::Active) && updated {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("{name} never became Active").into())
}

#[tokio::test]
async fn sdk_manages_functions_across_architectures() -> TestResult {
    let server = start()?;
    let c = client(&server.url).await;
    let code = zip(&[("main.py", "def handler(e, c):\n    return 1\n")]);
    let created = c
        .create_function()
        .function_name("sdk-fn")
        .runtime(Runtime::Python312)
        .role("arn:aws:iam::123456789012:role/r")
        .handler("main.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(code.clone()))
                .build(),
        )
        .architectures(Architecture::Arm64)
        .send()
        .await?;
    assert_eq!(created.architectures(), &[Architecture::Arm64]);
    assert_eq!(created.state(), Some(&State::Pending));
    wait_active(&c, "sdk-fn").await?;

    let got = c.get_function().function_name("sdk-fn").send().await?;
    let location = got
        .code()
        .and_then(|c| c.location())
        .ok_or("no code location")?
        .to_string();
    let downloaded = reqwest::get(&location).await?.bytes().await?;
    assert_eq!(downloaded.as_ref(), code.as_slice());

    let v1 = c.publish_version().function_name("sdk-fn").send().await?;
    assert_eq!(v1.version(), Some("1"));
    c.update_function_code()
        .function_name("sdk-fn")
        .zip_file(Blob::new(zip(&[(
            "main.py",
            "def handler(e, c):\n    return 2\n",
        )])))
        .architectures(Architecture::X8664)
        .send()
        .await?;
    wait_active(&c, "sdk-fn").await?;
    let v2 = c.publish_version().function_name("sdk-fn").send().await?;
    assert_eq!(v2.architectures(), &[Architecture::X8664]);
    let v1_again = c
        .get_function_configuration()
        .function_name("sdk-fn")
        .qualifier("1")
        .send()
        .await?;
    assert_eq!(
        v1_again.architectures(),
        &[Architecture::Arm64],
        "version 1 keeps arm64"
    );

    let alias = c
        .create_alias()
        .function_name("sdk-fn")
        .name("migrate")
        .function_version("2")
        .routing_config(
            AliasRoutingConfiguration::builder()
                .additional_version_weights("1", 0.25)
                .build(),
        )
        .send()
        .await?;
    assert_eq!(
        alias
            .routing_config()
            .and_then(|r| r.additional_version_weights())
            .and_then(|w| w.get("1")),
        Some(&0.25)
    );
    let listed = c
        .list_functions()
        .function_version("ALL".into())
        .send()
        .await?;
    assert_eq!(listed.functions().len(), 3);

    let missing = c.get_function().function_name("nope").send().await;
    let err = missing
        .err()
        .ok_or("expected an error")?
        .into_service_error();
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    let bad = c
        .create_function()
        .function_name("bad-arch")
        .runtime(Runtime::Python312)
        .role("arn:aws:iam::123456789012:role/r")
        .handler("main.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(code.clone()))
                .build(),
        )
        .architectures(Architecture::Arm64)
        .architectures(Architecture::X8664)
        .send()
        .await;
    let msg = format!(
        "{:?}",
        bad.err().ok_or("expected an error")?.into_service_error()
    );
    assert!(
        msg.contains("Member must have length less than or equal to 1"),
        "{msg}"
    );
    Ok(())
}

#[tokio::test]
async fn sdk_manages_layers_tags_and_concurrency() -> TestResult {
    let server = start()?;
    let c = client(&server.url).await;
    let layer = c
        .publish_layer_version()
        .layer_name("libs")
        .content(
            aws_sdk_lambda::types::LayerVersionContentInput::builder()
                .zip_file(Blob::new(zip(&[("python/x.py", "")])))
                .build(),
        )
        .compatible_architectures(Architecture::Arm64)
        .send()
        .await?;
    assert_eq!(layer.version(), 1);
    let arm = c
        .list_layers()
        .compatible_architecture(Architecture::Arm64)
        .send()
        .await?;
    assert_eq!(arm.layers().len(), 1);
    let x86 = c
        .list_layers()
        .compatible_architecture(Architecture::X8664)
        .send()
        .await?;
    assert!(x86.layers().is_empty());

    let created = c
        .create_function()
        .function_name("with-layer")
        .runtime(Runtime::Nodejs22x)
        .role("arn:aws:iam::123456789012:role/r")
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(zip(&[("index.js", "")])))
                .build(),
        )
        .layers(layer.layer_version_arn().unwrap_or_default())
        .tags("team", "arm")
        .send()
        .await?;
    assert_eq!(
        created.architectures(),
        &[Architecture::X8664],
        "the default is x86_64"
    );
    let arn = created.function_arn().unwrap_or_default().to_string();
    c.tag_resource()
        .resource(&arn)
        .tags("stage", "canary")
        .send()
        .await?;
    let tags = c.list_tags().resource(&arn).send().await?;
    assert_eq!(tags.tags().map(|t| t.len()), Some(2));
    c.put_function_concurrency()
        .function_name("with-layer")
        .reserved_concurrent_executions(10)
        .send()
        .await?;
    let conc = c
        .get_function_concurrency()
        .function_name("with-layer")
        .send()
        .await?;
    assert_eq!(conc.reserved_concurrent_executions(), Some(10));
    let settings = c.get_account_settings().send().await?;
    assert_eq!(
        settings
            .account_limit()
            .map(|l| l.unreserved_concurrent_executions()),
        Some(Some(990))
    );
    assert_eq!(
        settings.account_usage().map(|u| u.function_count()),
        Some(1)
    );
    Ok(())
}

/// The SDK reads archfn's event stream encoding: a listener answers one request with the bytes
/// `archfn_api::eventstream` makes for InvokeWithResponseStream (two chunks, then
/// `InvokeComplete`), sent as HTTP chunks, and the SDK decodes them, CRCs checked.
#[tokio::test]
async fn sdk_reads_the_event_stream_archfn_writes() -> TestResult {
    use archfn_api::eventstream::event;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await?;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // The request: its headers, then its 2-byte body.
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") || !seen.ends_with(b"{}") {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\nx-amz-executed-version: $LATEST\r\ntransfer-encoding: chunked\r\n\r\n").await?;
        for frame in [
            event("PayloadChunk", "application/octet-stream", b"first "),
            event("PayloadChunk", "application/octet-stream", b"second"),
            event(
                "InvokeComplete",
                "application/json",
                br#"{"ErrorCode":"TypeError","ErrorDetails":"broke","LogResult":"bG9n"}"#,
            ),
        ] {
            conn.write_all(format!("{:x}\r\n", frame.len()).as_bytes())
                .await?;
            conn.write_all(&frame).await?;
            conn.write_all(b"\r\n").await?;
        }
        conn.write_all(b"0\r\n\r\n").await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&seen).into_owned())
    });
    let c = client(&url).await;
    let mut out = c
        .invoke_with_response_stream()
        .function_name("f")
        .payload(Blob::new("{}"))
        .send()
        .await?;
    assert_eq!(out.executed_version(), Some("$LATEST"));
    let mut body = Vec::new();
    let mut complete = None;
    while let Some(ev) = out.event_stream.recv().await? {
        use aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent as Ev;
        match ev {
            Ev::PayloadChunk(chunk) => {
                body.extend_from_slice(chunk.payload().map(|b| b.as_ref()).unwrap_or_default())
            }
            Ev::InvokeComplete(done) => complete = Some(done),
            other => return Err(format!("unexpected event {other:?}").into()),
        }
    }
    assert_eq!(body, b"first second");
    let done = complete.ok_or("no InvokeComplete")?;
    assert_eq!(done.error_code(), Some("TypeError"));
    assert_eq!(done.error_details(), Some("broke"));
    assert_eq!(done.log_result(), Some("bG9n"));
    let request = server.await??;
    assert!(request.starts_with("POST /2021-11-15/functions/f/response-streaming-invocations"));
    Ok(())
}

/// The real server answers InvokeWithResponseStream's errors in the shape the SDK reads.
#[tokio::test]
async fn sdk_invoke_with_response_stream_errors() -> TestResult {
    let server = start()?;
    let c = client(&server.url).await;
    let err = c
        .invoke_with_response_stream()
        .function_name("nope")
        .payload(Blob::new("{}"))
        .send()
        .await
        .err()
        .ok_or("an unknown function streamed")?;
    let service = err.into_service_error();
    assert!(service.is_resource_not_found_exception(), "{service:?}");
    Ok(())
}
