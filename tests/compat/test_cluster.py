"""Three `archfn serve` nodes on loopback sharing one PostgreSQL database (`--store postgres://…`)
and one bucket of an S3-compatible server (`--blobs s3://…`), each with a data directory of its
own (issue 16): any node answers any call and sees the others' writes at once; a node killed
with SIGKILL under a write and invoke load loses no acknowledged write, and the Event invocations
it had taken run on another node.

Needs ARCHFN_TEST_POSTGRES (a server where the test may create a database: scripts/test.sh
starts one with scripts/postgres.sh) and an S3-compatible server (ARCHFN_TEST_S3_ENDPOINT, else
moto's from .venv-s3, started here)."""

import json
import os
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest

from conftest import REPO, Server, create, free_port, make_zip, unique

PG = os.environ.get("ARCHFN_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(not PG, reason="ARCHFN_TEST_POSTGRES is not set (scripts/test.sh sets it)")

APP = """
import os, time
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("marker"):
        print("done " + event["marker"])
    return {"colour": os.environ.get("COLOUR"), "event": event}
"""


def psql(sql: str):
    subprocess.run(["psql", f"{PG}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


class Moto:
    """An S3-compatible server: the test script's, or moto's started here."""

    def __init__(self):
        self.proc = None
        self.url = os.environ.get("ARCHFN_TEST_S3_ENDPOINT")
        if not self.url:
            port = free_port()
            self.proc = subprocess.Popen([str(REPO / ".venv-s3" / "bin" / "moto_server"), "-p", str(port)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    self.s3().list_buckets()
                    break
                except Exception:
                    time.sleep(0.2)

    def s3(self):
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="AKIDTEST",
                            aws_secret_access_key="test")

    def stop(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def cluster(runtimes):
    db = "archfn_cluster_" + uuid.uuid4().hex[:12]
    psql(f"CREATE DATABASE {db}")
    moto = Moto()
    bucket = "archfn-cluster-" + uuid.uuid4().hex[:8]
    moto.s3().create_bucket(Bucket=bucket)
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="test")
    nodes = []
    try:
        with tempfile.TemporaryDirectory(prefix="archfn-cluster-") as d:
            for name in "abc":
                s = Server(Path(d) / name, ["--store", f"{PG}/{db}", "--blobs", f"s3://{bucket}/cluster?endpoint={moto.url}"])
                nodes.append(s.start())
            yield nodes
            for s in nodes:
                s.kill()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        moto.stop()


def converges(read, ok, within=2.0):
    """Whether `ok(read())` holds within `within` seconds (a write another node made reaches this
    node's cache by a notification, in milliseconds)."""
    deadline = time.time() + within
    while True:
        if ok(read()):
            return True
        if time.time() > deadline:
            return False
        time.sleep(0.02)


def wait_active(lam, name):
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})


def test_create_on_a_update_on_b_invoke_on_c(cluster):
    a, b, c = cluster
    la, lb, lc = a.client(), b.client(), c.client()
    name, _ = create(la, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler",
                     Environment={"Variables": {"COLOUR": "red"}})
    wait_active(lc, name)
    r = json.loads(lc.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert r["colour"] == "red"
    before = lb.get_function_configuration(FunctionName=name)["RevisionId"]
    lb.update_function_configuration(FunctionName=name, Environment={"Variables": {"COLOUR": "blue"}})
    # Until LastUpdateStatus is Successful the update is still being applied (a new RevisionId
    # comes with Successful).
    lb.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    revision = lb.get_function_configuration(FunctionName=name)["RevisionId"]
    # Every node sees B's write as soon as its notification arrives (a node's cache is emptied
    # by PostgreSQL's NOTIFY, sent at commit): the same RevisionId, and C runs the new configuration.
    for lam in (lc, la):
        assert converges(lambda: lam.get_function_configuration(FunctionName=name),
                         lambda got: (got["Environment"]["Variables"]["COLOUR"], got["RevisionId"]) == ("blue", revision))
    assert json.loads(lc.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())["colour"] == "blue"
    # A write conditional on the RevisionId from before B's update is refused on A.
    with pytest.raises(la.exceptions.PreconditionFailedException):
        la.update_function_configuration(FunctionName=name, Description="x", RevisionId=before)
    # The code a node never saw comes from the bucket: A created it, C unpacked it into its own cache.
    assert any((c.data_dir / "code").iterdir())


def test_sigkill_under_write_and_invoke_load_loses_no_acknowledged_write(cluster):
    a, b, c = cluster
    la, lb, lc = a.client(), b.client(), c.client()
    target, _ = create(la, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler")
    wait_active(lc, target)
    zip_bytes = make_zip({"app.py": APP})
    acknowledged, refused, invoke_errors = [], [], []
    stop = threading.Event()
    prefix = unique("load")

    def writer(lam, tag):
        i = 0
        while not stop.is_set():
            name = f"{prefix}-{tag}-{i}"
            i += 1
            try:
                lam.create_function(FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::123456789012:role/x",
                                    Handler="app.handler", Code={"ZipFile": zip_bytes})
                acknowledged.append(name)
            except Exception as e:  # the killed node's requests fail; they were not acknowledged
                refused.append((name, repr(e)))

    def invoker():
        while not stop.is_set():
            try:
                r = lc.invoke(FunctionName=target, Payload=b'{"x": 1}')
                if "FunctionError" in r:
                    invoke_errors.append(r["Payload"].read())
            except Exception as e:
                invoke_errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(lb, "b")), threading.Thread(target=writer, args=(la, "a")),
               threading.Thread(target=invoker)]
    for t in threads:
        t.start()
    time.sleep(3)
    b.kill()  # SIGKILL, under the load
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    b.start()  # back for the next tests, on the same data directory and database
    assert acknowledged and any("-b-" in n for n in acknowledged)
    names = set()
    for lam in (la, lc):
        marker = None
        names = set()
        while True:
            kw = {"Marker": marker} if marker else {}
            page = lam.list_functions(MaxItems=50, **kw)
            names |= {f["FunctionName"] for f in page["Functions"]}
            marker = page.get("NextMarker")
            if not marker:
                break
        lost = [n for n in acknowledged if n not in names]
        assert not lost, f"acknowledged but lost: {lost}"
    assert not invoke_errors, invoke_errors[:3]


def test_event_invocations_of_a_killed_node_run_on_another(cluster):
    a, b, c = cluster
    la, lb = a.client(), b.client()
    name, _ = create(la, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler",
                     Timeout=30)
    wait_active(lb, name)
    markers = [uuid.uuid4().hex for _ in range(6)]
    for m in markers:
        r = lb.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": m, "sleep": 4}))
        assert r["StatusCode"] == 202
    time.sleep(1.5)  # every node has taken some: B's are running
    b.kill()
    logs = boto3.client("logs", endpoint_url=a.url, region_name="us-east-1", aws_access_key_id="AKIDARCHFN",
                        aws_secret_access_key="archfn-secret")
    deadline = time.time() + 120
    done = set()
    while time.time() < deadline and len(done) < len(markers):
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="done")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        done = {e["message"].split()[1] for e in events if e["message"].startswith("done ")}
        time.sleep(1)
    b.start()
    assert done == set(markers), f"never ran: {set(markers) - done}"
