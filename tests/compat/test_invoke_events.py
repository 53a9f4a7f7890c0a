"""Event invocations: accepted durably (202), run, retried twice on failure, and not lost when the
server is killed while they wait for a retry. Test servers retry after 1 s instead of Lambda's minute."""

import json
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import Server, archfn_bin, create, make_zip, unique

FLAKY = """
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    print("attempt", COUNT, event["marker"])
    if event.get("always_fail") or COUNT < 3:
        raise RuntimeError("not yet")
    return "ok"
"""


def log_lines(server, function, marker):
    out = subprocess.run([archfn_bin(), "logs", function, "--endpoint", server.url], capture_output=True, text=True)
    return [l for l in out.stdout.splitlines() if l.startswith("attempt ") and l.endswith(marker)]


def wait_for(predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def fresh_server(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-events-") as d:
        s = Server(Path(d) / "data").start()
        yield s
        # SIGTERM: the server ends its environments (a SIGKILLed one leaves the frozen ones to
        # the next server on this data directory, and this one is deleted).
        s.stop()


def test_failed_event_is_retried_twice(fresh_server):
    lam = fresh_server.client()
    name, _ = create(lam, runtime="python3.11", arch="arm64", zip_bytes=make_zip({"app.py": FLAKY}), Handler="app.handler")
    marker = unique("m")
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker}))
    assert r["StatusCode"] == 202
    lines = wait_for(lambda: len(log_lines(fresh_server, name, marker)) >= 3 and log_lines(fresh_server, name, marker), 30)
    assert lines[:3] == [f"attempt 1 {marker}", f"attempt 2 {marker}", f"attempt 3 {marker}"]
    time.sleep(2.5)
    assert len(log_lines(fresh_server, name, marker)) == 3, "a success ends the retries"


def test_event_that_always_fails_runs_three_times(fresh_server):
    lam = fresh_server.client()
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": FLAKY}), Handler="app.handler")
    marker = unique("m")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker, "always_fail": True}))
    wait_for(lambda: len(log_lines(fresh_server, name, marker)) >= 3, 30)
    time.sleep(4)
    assert len(log_lines(fresh_server, name, marker)) == 3


def test_queued_retry_survives_sigkill(fresh_server):
    lam = fresh_server.client()
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": FLAKY}), Handler="app.handler")
    marker = unique("m")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker, "always_fail": True}))
    assert wait_for(lambda: log_lines(fresh_server, name, marker), 20)
    fresh_server.kill()  # the retry is waiting in the queue
    fresh_server.start()
    lines = wait_for(lambda: len(log_lines(fresh_server, name, marker)) >= 2 and log_lines(fresh_server, name, marker), 20)
    assert len(lines) >= 2, "the retry ran after the restart"
