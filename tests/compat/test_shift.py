"""Traffic shifts (`archfn shift`, `/archfn/v1/deployments`): an alias moved from an x86_64
version to an arm64 one in steps while live traffic flows through it, judged by guardrails on
that traffic, with hooks, rollback, and resumption after the server is killed mid-shift."""

import json
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROLE, Server, archfn_bin, make_zip, unique, wait_updated

GOOD = """
import os, platform

def handler(event, context):
    return {"version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"], "machine": platform.machine()}
"""

BAD = """
def handler(event, context):
    raise RuntimeError("the arm64 build is broken")
"""

HOOK_OK = """
import json

def handler(event, context):
    print("HOOK", json.dumps(event))
    return {"status": "Succeeded"}
"""

HOOK_FAIL = """
def handler(event, context):
    raise AssertionError("smoke test of the new version failed")
"""


@pytest.fixture(scope="module")
def srv(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-shift-") as d:
        s = Server(Path(d) / "data").start()
        yield s
        s.stop()


def api(server, method, path, body=None):
    """(status, JSON body, headers) of a request to the server."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null"), e.headers


def wait_active(lam, name):
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})


def function(lam, name=None, code=GOOD, arch="x86_64"):
    name = name or unique("shift")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": code})}, Architectures=[arch], Timeout=30)
    wait_active(lam, name)
    return name


def versions(lam):
    """A function whose version 1 runs on x86_64, version 2 (good) and 3 (raising) on arm64,
    with alias `live` on version 1; every version invoked once, so no step waits for a cold
    start."""
    name = function(lam)
    lam.publish_version(FunctionName=name)
    for i, code in enumerate((GOOD, BAD)):
        lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": code + f"\n# {i}\n"}),
                                 Architectures=["arm64"])
        wait_updated(lam, name)
        lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    for v in ("1", "2", "3"):
        lam.invoke(FunctionName=name, Qualifier=v, Payload=b"{}")
    return name


class Traffic:
    """Invocations of an alias from background threads, as live traffic, until stopped."""

    def __init__(self, server, name, qualifier="live", threads=2):
        self.server, self.name, self.qualifier = server, name, qualifier
        self.stopping = threading.Event()
        self.seen = []
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        lam = self.server.client()
        while not self.stopping.is_set():
            try:
                r = lam.invoke(FunctionName=self.name, Qualifier=self.qualifier, Payload=b"{}")
                self.seen.append((r.get("ExecutedVersion"), r.get("FunctionError")))
            except Exception:  # the server may be down for a moment (the SIGKILL test)
                time.sleep(0.2)
                lam = self.server.client()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)


def shift_cli(server, *args, timeout=180):
    return subprocess.run([archfn_bin(), "shift", *args, "--endpoint", server.url],
                          capture_output=True, text=True, timeout=timeout)


def wait_status(server, dep_id, done=lambda d: d["status"] != "InProgress", timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, d, _ = api(server, "GET", f"/archfn/v1/deployments/{dep_id}")
        assert status == 200, d
        if done(d):
            return d
        time.sleep(0.25)
    raise AssertionError(f"deployment {dep_id} did not get there: {d}")


def alias(lam, name):
    a = lam.get_alias(FunctionName=name, Name="live")
    return a["FunctionVersion"], a.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def test_a_healthy_shift_reaches_all_traffic_with_both_versions_side_by_side(srv):
    lam = srv.client()
    name = versions(lam)
    hook = function(lam, code=HOOK_OK)
    with Traffic(srv, name):
        r = shift_cli(srv, name, "--alias", "live", "--to", "2", "--strategy", "50,100@4s",
                      "--min-invocations", "5", "--post-traffic-hook", hook)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Succeeded" in r.stdout
    # The step's table: both versions, the arm64 one marked emulated.
    assert "step 1 (50% to the new version)" in r.stdout, r.stdout
    assert "emulated" in r.stdout and "native" in r.stdout
    assert alias(lam, name) == ("2", {})
    status, listed, _ = api(srv, "GET", f"/archfn/v1/deployments?function={name}&alias=live")
    assert status == 200 and len(listed["deployments"]) == 1
    d = listed["deployments"][0]
    assert d["status"] == "Succeeded" and d["fromVersion"] == "1" and d["toVersion"] == "2"
    assert d["plan"]["steps"] == [{"percent": 50, "holdMs": 4000}, {"percent": 100, "holdMs": 0}]
    step = d["steps"][0]
    assert step["new"]["invocations"] >= 5 and step["old"]["invocations"] >= 1, step
    assert (step["new"]["architecture"], step["new"]["execution"]) == ("arm64", "emulated")
    assert (step["old"]["architecture"], step["old"]["execution"]) == ("x86_64", "native")
    assert step["new"]["errors"] == 0 and step["new"]["p99Ms"] > 0
    # Lambda's prices: arm64's GB-second is cheaper, so at equal billed time it costs less;
    # the x86_64 side is priced at x86_64's price.
    assert step["new"]["costPerMillionUsd"] > 0.2 and step["old"]["costPerMillionUsd"] > 0.2
    # Emulated latency is never judged against native latency.
    assert "p99 not compared" in step["verdict"] and "emulated" in step["verdict"], step["verdict"]
    assert "oldTally" not in step
    messages = [e["message"] for e in d["events"]]
    assert any("AfterAllowTraffic hook succeeded" in m for m in messages), messages
    # After the shift, all traffic runs version 2 on arm64.
    for _ in range(5):
        out = json.loads(lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")["Payload"].read())
        assert out == {"version": "2", "machine": "aarch64"}


def test_a_version_that_raises_errors_is_rolled_back_by_itself(srv):
    lam = srv.client()
    name = versions(lam)
    started = time.time()
    with Traffic(srv, name) as traffic:
        r = shift_cli(srv, name, "--alias", "live", "--to", "3", "--strategy", "50,100@60s",
                      "--min-invocations", "5", "--max-error-rate", "10%")
        seen_at_end = len(traffic.seen)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "RolledBack" in r.stdout and "error rate" in r.stdout
    # Caught within the step, not at its end.
    assert time.time() - started < 50
    assert alias(lam, name) == ("1", {})
    status, listed, _ = api(srv, "GET", f"/archfn/v1/deployments?function={name}")
    d = listed["deployments"][0]
    assert d["status"] == "RolledBack" and "version 3's error rate" in d["reason"]
    assert len(d["steps"]) == 1 and d["steps"][0]["verdict"].startswith("breached")
    assert d["steps"][0]["new"]["errors"] >= 1
    assert seen_at_end > 0
    # Everything through the alias runs version 1 again.
    for _ in range(3):
        r = lam.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
        assert r["ExecutedVersion"] == "1" and "FunctionError" not in r


def test_a_failing_pre_traffic_hook_rolls_back_before_any_traffic_moves(srv):
    lam = srv.client()
    name = versions(lam)
    hook = function(lam, code=HOOK_FAIL)
    status, d, _ = api(srv, "POST", "/archfn/v1/deployments", {
        "functionName": name, "aliasName": "live", "targetVersion": "2", "strategy": "AllAtOnce",
        "hooks": {"preTraffic": hook}})
    assert status == 201, d
    assert d["id"].startswith("d-") and len(d["id"]) == 11
    d = wait_status(srv, d["id"])
    assert d["status"] == "RolledBack", d
    assert "BeforeAllowTraffic hook" in d["reason"] and "AssertionError" in d["reason"], d["reason"]
    assert d["steps"] == []
    assert alias(lam, name) == ("1", {})


def test_stop_rolls_a_running_shift_back(srv):
    lam = srv.client()
    name = versions(lam)
    status, d, _ = api(srv, "POST", "/archfn/v1/deployments", {
        "functionName": name, "aliasName": "live", "targetVersion": "2", "strategy": "Canary10Percent30Minutes"})
    assert status == 201, d
    wait_status(srv, d["id"], done=lambda d: d["steps"] and d["steps"][0]["applied"])
    assert alias(lam, name) == ("1", {"2": 0.1})
    r = shift_cli(srv, "status", "--function", name)
    assert r.returncode == 0 and d["id"] in r.stdout and "InProgress" in r.stdout, r.stdout + r.stderr
    r = shift_cli(srv, "stop", d["id"])
    assert r.returncode == 0, r.stderr
    assert "Stopped" in r.stdout
    assert alias(lam, name) == ("1", {})
    # A finished shift cannot be stopped again; a new one may start on the alias.
    status, err, headers = api(srv, "POST", f"/archfn/v1/deployments/{d['id']}/stop")
    assert status == 409 and headers["x-amzn-ErrorType"].startswith("ResourceConflictException")
    r = shift_cli(srv, name, "--alias", "live", "--to", "2", "--strategy", "AllAtOnce")
    assert r.returncode == 0, r.stdout + r.stderr
    assert alias(lam, name) == ("2", {})
    # And a succeeded one can be rolled back.
    done = api(srv, "GET", f"/archfn/v1/deployments?function={name}&limit=1")[1]["deployments"][0]
    r = shift_cli(srv, "rollback", done["id"])
    assert r.returncode == 0 and "RolledBack" in r.stdout, r.stdout + r.stderr
    assert alias(lam, name) == ("1", {})


def test_bad_shifts_get_lambda_errors(srv):
    lam = srv.client()
    name = versions(lam)
    other = versions(lam)
    arn = lam.get_function(FunctionName=other)["Configuration"]["FunctionArn"]

    def start(**kw):
        body = {"functionName": name, "aliasName": "live", "targetVersion": "2", "strategy": "10,100@1m"}
        body.update(kw)
        return api(srv, "POST", "/archfn/v1/deployments", body)

    def error(resp):
        status, body, headers = resp
        return status, headers["x-amzn-ErrorType"].split(":")[0], body.get("message") or body.get("Message")

    s, kind, msg = error(start(aliasName="nope"))
    assert (s, kind) == (404, "ResourceNotFoundException") and msg.startswith("Alias not found: arn:aws:lambda:")
    s, kind, msg = error(start(targetVersion="99"))
    assert (s, kind) == (404, "ResourceNotFoundException") and msg.endswith(f"function:{name}:99")
    s, kind, msg = error(start(targetVersion=f"{arn}:2"))
    assert (s, kind) == (400, "InvalidParameterValueException") and f"belongs to function {other}" in msg
    s, kind, msg = error(start(targetVersion="$LATEST"))
    assert (s, kind) == (400, "InvalidParameterValueException") and "$LATEST" in msg
    s, kind, msg = error(start(targetVersion="1"))
    assert (s, kind) == (400, "InvalidParameterValueException") and "already points to version 1" in msg
    s, kind, msg = error(start(strategy="10,50@1m"))
    assert (s, kind) == (400, "InvalidParameterValueException") and "do not add up" in msg
    s, kind, msg = error(start(strategy="Canary99"))
    assert (s, kind) == (400, "InvalidParameterValueException") and "Canary10Percent5Minutes" in msg
    s, kind, msg = error(start(guardrails={"maxErrorRate": 3}))
    assert (s, kind) == (400, "InvalidParameterValueException")
    s, kind, msg = error(start(functionName="no-such-function"))
    assert (s, kind) == (404, "ResourceNotFoundException")
    s, kind, _ = error(api(srv, "POST", "/archfn/v1/deployments", {"functionName": name}))
    assert (s, kind) == (400, "InvalidRequestContentException")
    s, kind, _ = error(api(srv, "GET", "/archfn/v1/deployments/d-NOSUCHONE"))
    assert (s, kind) == (404, "ResourceNotFoundException")
    # One shift per alias at a time.
    status, first, _ = start()
    assert status == 201, first
    s, kind, msg = error(start(targetVersion="3"))
    assert (s, kind) == (409, "ResourceConflictException") and first["id"] in msg
    assert api(srv, "POST", f"/archfn/v1/deployments/{first['id']}/stop")[0] == 200


def test_a_shift_survives_the_server_being_killed_mid_step(runtimes, tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        lam = server.client()
        name = versions(lam)
        status, d, _ = api(server, "POST", "/archfn/v1/deployments", {
            "functionName": name, "aliasName": "live", "targetVersion": "2", "strategy": "50,100@8s",
            "guardrails": {"minInvocations": 3}})
        assert status == 201, d
        with Traffic(server, name):
            wait_status(server, d["id"], done=lambda d: d["steps"] and d["steps"][0]["applied"])
            time.sleep(2)
            server.kill()
            # The record said what the alias carries when the process died.
            server.start()
            d = wait_status(server, d["id"])
        assert d["status"] == "Succeeded", d
        messages = [e["message"] for e in d["events"]]
        assert any("resumed after the server restarted" in m for m in messages), messages
        assert alias(server.client(), name) == ("2", {})
    finally:
        server.stop()
