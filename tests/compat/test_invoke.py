"""Invoke through boto3: each function runs on its own ISA (x86_64 natively, arm64 under QEMU
on this x86_64 host), with Lambda's failure semantics, logs and routing."""

import base64
import json
import subprocess
import tempfile
import time
from pathlib import Path

import botocore.exceptions
import pytest

from conftest import REPO, archfn_bin, create, make_zip, unique, wait_updated

PY = """
import os, platform, sys, time
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    action = (event or {}).get("action")
    print("machine", platform.machine(), "count", COUNT, "event", event)
    if action == "raise":
        raise ValueError("bad input: " + str(event.get("n")))
    if action == "exit":
        os._exit(3)
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "eat":
        hog = bytearray(event["mb"] << 20)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
    if action == "big":
        return "x" * event["bytes"]
    return {
        "machine": platform.machine(), "count": COUNT, "event": event,
        "version": context.function_version, "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb, "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "MY_VAR", "_HANDLER")},
        "cwd": os.getcwd(), "tmp_writable": os.access("/tmp", os.W_OK), "task_writable": os.access("/var/task", os.W_OK),
        "pid1": open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode(),
    }
"""


@pytest.fixture(scope="module")
def fns(lam, runtimes):
    out = {}
    for arch in ("x86_64", "arm64"):
        name, _ = create(lam, runtime="python3.11", arch=arch, zip_bytes=make_zip({"app.py": PY}), Handler="app.handler",
                         Timeout=5, Environment={"Variables": {"MY_VAR": "hello"}})
        out[arch] = name
    return out


def invoke(lam, name, event=None, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}), **kw)
    return r, json.loads(r["Payload"].read() or b"null")


@pytest.mark.parametrize("arch,machine", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_machine_matches_the_architecture(lam, fns, arch, machine):
    r, body = invoke(lam, fns[arch], {"hello": arch})
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert r["ExecutedVersion"] == "$LATEST"
    assert body["machine"] == machine
    assert body["event"] == {"hello": arch}
    assert body["version"] == "$LATEST" and body["memory"] == "128"
    assert body["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fns[arch]}"
    assert 0 < body["remaining"] <= 5000
    assert body["env"] == {"AWS_LAMBDA_FUNCTION_NAME": fns[arch], "AWS_REGION": "us-east-1", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
                           "LAMBDA_TASK_ROOT": "/var/task", "MY_VAR": "hello", "_HANDLER": "app.handler"}
    assert body["cwd"] == "/var/task" and body["tmp_writable"] and not body["task_writable"]
    assert body["pid1"] != "/sbin/init", "the environment has its own pid namespace"
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-archfn-execution"] == ("native" if arch == "x86_64" else "emulated")


def test_warm_environment_is_reused(lam, fns):
    _, a = invoke(lam, fns["x86_64"])
    _, b = invoke(lam, fns["x86_64"])
    assert b["count"] == a["count"] + 1


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_tail_and_report_say_native_or_emulated(lam, fns, arch):
    r, _ = invoke(lam, fns[arch], LogType="Tail")
    log = base64.b64decode(r["LogResult"]).decode()
    assert "START RequestId: " in log and "Version: $LATEST" in log
    assert f"machine {'x86_64' if arch == 'x86_64' else 'aarch64'}" in log
    report = [l for l in log.splitlines() if l.startswith("REPORT ")][-1]
    fields = dict(f.split(": ", 1) for f in report.split("\t")[1:] if ": " in f)
    assert fields["Memory Size"] == "128 MB"
    assert fields["Billed Duration"].endswith(" ms") and int(fields["Billed Duration"][:-3]) >= 1
    assert int(fields["Max Memory Used"].split()[0]) > 0
    assert fields["Execution"] == ("native" if arch == "x86_64" else "emulated")
    r2, _ = invoke(lam, fns[arch])
    assert "LogResult" not in r2


def test_handler_exception_keeps_the_environment(lam, fns):
    _, before = invoke(lam, fns["arm64"])
    r, body = invoke(lam, fns["arm64"], {"action": "raise", "n": 7})
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "bad input: 7"
    assert body["stackTrace"] and body["requestId"]
    _, after = invoke(lam, fns["arm64"])
    assert after["count"] == before["count"] + 2, "the same environment served all three"


def test_crash_is_runtime_exit_error_and_server_keeps_serving(lam, fns):
    r, body = invoke(lam, fns["x86_64"], {"action": "exit"})
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    r, body = invoke(lam, fns["x86_64"])
    assert "FunctionError" not in r and body["count"] == 1, "a fresh environment after the crash"


def test_timeout(lam, fns):
    name = fns["x86_64"]
    lam.update_function_configuration(FunctionName=name, Timeout=1)
    wait_updated(lam, name)
    try:
        started = time.time()
        r, body = invoke(lam, name, {"action": "sleep", "seconds": 30}, LogType="Tail")
        assert time.time() - started < 10
        assert r["FunctionError"] == "Unhandled"
        assert body["errorType"] == "Sandbox.Timedout"
        assert body["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
        assert "Status: timeout" in base64.b64decode(r["LogResult"]).decode()
        r, body = invoke(lam, name)
        assert "FunctionError" not in r
    finally:
        lam.update_function_configuration(FunctionName=name, Timeout=5)
        wait_updated(lam, name)


def test_out_of_memory(lam, fns):
    r, body = invoke(lam, fns["x86_64"], {"action": "eat", "mb": 400})
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] in ("Runtime.OutOfMemory", "Runtime.ExitError")
    assert "signal: killed" in body["errorMessage"]
    r, body = invoke(lam, fns["x86_64"])
    assert "FunctionError" not in r


@pytest.mark.parametrize(
    "files,handler,error_type",
    [
        ({"app.py": "def handler(e, c): return 1\n"}, "missing.handler", "Runtime.ImportModuleError"),
        ({"app.py": "def handler(e, c): return 1\n"}, "app.nothere", "Runtime.HandlerNotFound"),
        ({"app.py": "def handler(e, c) return 1\n"}, "app.handler", "Runtime.UserCodeSyntaxError"),
        ({"app.py": "import numpy_is_not_here\ndef handler(e, c): return 1\n"}, "app.handler", "Runtime.ImportModuleError"),
    ],
)
def test_init_errors(lam, runtimes, files, handler, error_type):
    name, _ = create(lam, runtime="python3.11", arch="arm64", zip_bytes=make_zip(files), Handler=handler)
    r, body = invoke(lam, name)
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == error_type


def test_dry_run_event_logs_and_not_found(lam, fns, server):
    r = lam.invoke(FunctionName=fns["x86_64"], InvocationType="DryRun")
    assert r["StatusCode"] == 204
    marker = unique("event")
    r = lam.invoke(FunctionName=fns["x86_64"], InvocationType="Event", Payload=json.dumps({"marker": marker}))
    assert r["StatusCode"] == 202 and "ExecutedVersion" not in r
    deadline = time.time() + 20
    log = ""
    while time.time() < deadline and marker not in log:
        time.sleep(0.1)
        out = subprocess.run([archfn_bin(), "logs", fns["x86_64"], "--endpoint", server.url], capture_output=True, text=True)
        log = out.stdout
    assert marker in log, "the Event invocation ran and its output reached `archfn logs`"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="nope-nope")
    assert e.value.response["Error"]["Message"] == "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope-nope:$LATEST"


def test_payload_limits(lam, fns, server):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName=fns["x86_64"], Payload=b'"' + b"x" * 6_291_456 + b'"')
    assert e.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName=fns["x86_64"], Payload=b"{not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert e.value.response["Error"]["Message"].startswith("Could not parse request body into json: Could not parse payload into json")
    r, body = invoke(lam, fns["x86_64"], {"action": "big", "bytes": 7_000_000})
    assert r["FunctionError"] == "Unhandled" and body["errorType"] == "Function.ResponseSizeTooLarge"


def test_reserved_concurrency_zero_throttles(lam, fns):
    name = fns["x86_64"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            lam.invoke(FunctionName=name)
        assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    finally:
        lam.delete_function_concurrency(FunctionName=name)


def test_weighted_alias_routes_between_architectures(lam, runtimes):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": PY}), Handler="app.handler")
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": PY + "\n# arm\n"}), Architectures=["arm64"])
    wait_updated(lam, name)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="canary", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
    n, hits = 200, {"1": 0, "2": 0}
    for _ in range(n):
        r, body = invoke(lam, name, Qualifier="canary")
        hits[r["ExecutedVersion"]] += 1
        assert body["machine"] == ("x86_64" if r["ExecutedVersion"] == "1" else "aarch64")
        assert body["arn"].endswith(f"{name}:canary")
        assert body["version"] == r["ExecutedVersion"]
    # Binomial(200, 0.3): mean 60, sd 6.5; 5 sd either side.
    assert 28 <= hits["2"] <= 92, hits
    r, body = invoke(lam, name, Qualifier="2")
    assert r["ExecutedVersion"] == "2" and body["machine"] == "aarch64"


def build_c_runtime(arch: str) -> bytes:
    cc = {"x86_64": "gcc", "arm64": "aarch64-linux-gnu-gcc"}[arch]
    out = Path(tempfile.mkdtemp()) / "bootstrap"
    subprocess.run([cc, "-static", "-O2", "-o", str(out), str(REPO / "tests/functions/c-runtime/bootstrap.c")], check=True)
    return make_zip({"bootstrap": out.read_bytes()}, executable=True)


@pytest.mark.parametrize("arch,machine", [("arm64", "aarch64"), ("x86_64", "x86_64")])
def test_c_custom_runtime(lam, runtimes, arch, machine):
    name, _ = create(lam, runtime="provided.al2023", arch=arch, zip_bytes=build_c_runtime(arch), Handler="ignored")
    r, body = invoke(lam, name, {"from": "c"})
    assert "FunctionError" not in r, body
    assert body == {"machine": machine, "event": {"from": "c"}}


def test_x86_bootstrap_in_arm64_function_fails_fast(lam, runtimes):
    name, _ = create(lam, runtime="provided.al2023", arch="arm64", zip_bytes=build_c_runtime("x86_64"), Handler="ignored")
    started = time.time()
    r, body = invoke(lam, name)
    assert time.time() - started < 5
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert "exec format error" in body["errorMessage"]


def test_rust_lambda_runtime_function(lam, runtimes):
    """A bootstrap built with the `lambda_runtime` crate (test-functions/rust-echo), provided.al2023 x86_64."""
    binary = REPO / "target" / "debug" / "rust-echo"
    if not binary.exists():
        subprocess.run(["cargo", "build", "-p", "rust-echo"], cwd=REPO, check=True)
    zipped = make_zip({"bootstrap": binary.read_bytes()}, executable=True)
    name, _ = create(lam, runtime="provided.al2023", arch="x86_64", zip_bytes=zipped, Handler="bootstrap")
    r, body = invoke(lam, name, {"hi": 1})
    assert "FunctionError" not in r, body
    assert body["machine"] == "x86_64" and body["event"] == {"hi": 1} and body["function"] == name
    assert len(body["request_id"]) == 36
    r, body = invoke(lam, name, {"fail": True})
    assert r["FunctionError"] == "Unhandled" and body["errorMessage"] == "asked to fail"


def test_metrics_say_native_or_emulated(lam, fns, server):
    import urllib.request

    invoke(lam, fns["arm64"])
    invoke(lam, fns["x86_64"])
    text = urllib.request.urlopen(server.url + "/metrics").read().decode()
    lines = [l for l in text.splitlines() if l.startswith("archfn_invocations_total{")]
    arm = [l for l in lines if f'function="{fns["arm64"]}"' in l and 'outcome="success"' in l]
    x86 = [l for l in lines if f'function="{fns["x86_64"]}"' in l and 'outcome="success"' in l]
    assert arm and all('arch="arm64",execution="emulated"' in l for l in arm)
    assert x86 and all('arch="x86_64",execution="native"' in l for l in x86)
    assert int(arm[0].rsplit(" ", 1)[1]) >= 1


SHELL_BOOTSTRAP = """#!/bin/sh
set -euo pipefail
. "$LAMBDA_TASK_ROOT/$(echo "$_HANDLER" | cut -d. -f1).sh"
while true; do
  headers="$(mktemp)"
  event=$(curl -sS -D "$headers" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  id=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d: -f2 | tr -d '[:space:]')
  out=$("$(echo "$_HANDLER" | cut -d. -f2)" "$event")
  curl -sS -o /dev/null "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$id/response" -d "$out"
done
"""

SHELL_FUNCTION = """handler () {
  echo "{\\"machine\\": \\"$(uname -m)\\", \\"event\\": $1}"
}
"""


@pytest.mark.parametrize("arch,machine", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_shell_custom_runtime(lam, runtimes, arch, machine):
    """A bash + curl bootstrap, as in AWS's custom runtime tutorial, on provided.al2023."""
    zipped = make_zip({"bootstrap": SHELL_BOOTSTRAP, "function.sh": SHELL_FUNCTION}, executable=True)
    name, _ = create(lam, runtime="provided.al2023", arch=arch, zip_bytes=zipped, Handler="function.handler",
                     Timeout=30)
    r, body = invoke(lam, name, {"n": 1})
    assert "FunctionError" not in r, body
    assert body == {"machine": machine, "event": {"n": 1}}
