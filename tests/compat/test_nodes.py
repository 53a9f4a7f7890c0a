"""Several nodes on one store: capacity providers (Lambda Managed Instances' API), a worker that
joins one (`archfn serve --role worker --capacity-provider NAME`), invocations forwarded to it
over the authenticated node-to-node route, the fallback to local execution when it dies, and a
traffic shift taken over by another node when the node driving it is killed.

The nodes are real processes on loopback sharing one data directory (one SQLite file, WAL); the
per-process read cache is off (`ARCHFN_METADATA_CACHE=off`), since it would not see the other
nodes' writes."""

import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import botocore.exceptions
import pytest

from conftest import ROLE, Server, make_zip, unique

SECRET = "a-cluster-secret-for-tests-only"
OP_ROLE = "arn:aws:iam::123456789012:role/operator"
VPC = {"SubnetIds": ["subnet-0abc"], "SecurityGroupIds": ["sg-0abc"]}

CODE = """
import os, platform

def handler(event, context):
    return {"machine": platform.machine(), "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"], "event": event}
"""


def node(data: Path, *args: str) -> Server:
    return Server(data, ["--cluster-secret", SECRET, *args])


def node_id(server: Server) -> str:
    """The node id a server logged when it joined."""
    deadline = time.time() + 10
    while time.time() < deadline:
        text = re.sub(r"\x1b\[[0-9;]*m", "", server.log_path.read_text())
        m = re.search(r"joining the cluster as node (\w+)", text)
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError("the node did not log its id")


@pytest.fixture(scope="module")
def cluster(runtimes):
    old = os.environ.get("ARCHFN_METADATA_CACHE")
    os.environ["ARCHFN_METADATA_CACHE"] = "off"
    with tempfile.TemporaryDirectory(prefix="archfn-nodes-") as d:
        data = Path(d) / "data"
        front = node(data).start()
        started = [front]
        try:
            yield data, front, started
        finally:
            for s in started:
                s.kill()
            # A node killed with SIGKILL leaves its environments' `pasta` processes behind.
            for pid in os.listdir("/proc"):
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if cmd.startswith(b"/usr/bin/pasta") and str(data).encode() in cmd:
                    try:
                        os.kill(int(pid), 15)
                    except OSError:
                        pass
            if old is None:
                os.environ.pop("ARCHFN_METADATA_CACHE", None)
            else:
                os.environ["ARCHFN_METADATA_CACHE"] = old


def provider(lam, name, arch="x86_64", **kw):
    return lam.create_capacity_provider(
        CapacityProviderName=name,
        VpcConfig=VPC,
        PermissionsConfig={"CapacityProviderOperatorRoleArn": OP_ROLE},
        InstanceRequirements={"Architectures": [arch]},
        **kw,
    )["CapacityProvider"]


def invoke(lam, name, payload=None, **kw):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}), LogType="Tail", **kw)
    body = json.loads(resp["Payload"].read())
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    import base64
    log = base64.b64decode(resp["LogResult"]).decode()
    return resp, body, headers, log


def test_capacity_provider_crud_and_errors(cluster):
    _, front, _ = cluster
    lam = front.client()
    name = unique("cp")
    cp = provider(lam, name, CapacityProviderScalingConfig={"ScalingMode": "Auto"})
    assert cp["CapacityProviderArn"] == f"arn:aws:lambda:us-east-1:000000000000:capacity-provider:{name}"
    assert cp["State"] == "Active"
    assert cp["InstanceRequirements"]["Architectures"] == ["x86_64"]
    assert cp["VpcConfig"] == VPC
    got = lam.get_capacity_provider(CapacityProviderName=name)["CapacityProvider"]
    assert got["CapacityProviderArn"] == cp["CapacityProviderArn"]
    by_arn = lam.get_capacity_provider(CapacityProviderName=cp["CapacityProviderArn"])["CapacityProvider"]
    assert by_arn["CapacityProviderArn"] == cp["CapacityProviderArn"]
    listed = lam.list_capacity_providers()["CapacityProviders"]
    assert name in [p["CapacityProviderArn"].rsplit(":", 1)[1] for p in listed]
    assert lam.list_capacity_providers(State="Deleting")["CapacityProviders"] == []

    manual = {"ScalingMode": "Manual", "ScalingPolicies": [
        {"PredefinedMetricType": "LambdaCapacityProviderAverageCPUUtilization", "TargetValue": 60.0}]}
    updated = lam.update_capacity_provider(CapacityProviderName=name, CapacityProviderScalingConfig=manual)
    assert updated["CapacityProvider"]["CapacityProviderScalingConfig"] == manual
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202

    with pytest.raises(botocore.exceptions.ClientError) as e:
        provider(lam, name)
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_capacity_provider(CapacityProviderName=unique("missing"))
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_capacity_provider(CapacityProviderName=name,
                                     CapacityProviderScalingConfig={"ScalingMode": "Manual"})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    bad = front.client(validate=False)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.create_capacity_provider(CapacityProviderName=unique("cp"), VpcConfig=VPC,
                                     PermissionsConfig={"CapacityProviderOperatorRoleArn": OP_ROLE},
                                     InstanceRequirements={"Architectures": ["sparc"]})
    assert e.value.response["Error"]["Code"] == "ValidationException"

    # A function placed on it: its architecture must be the provider's, and it holds the provider.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName=unique(), Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
                            Code={"ZipFile": make_zip({"lambda_function.py": CODE})}, Architectures=["arm64"],
                            CapacityProviderConfig={"LambdaManagedInstancesCapacityProviderConfig": {
                                "CapacityProviderArn": cp["CapacityProviderArn"]}})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    fn = unique()
    config = {"LambdaManagedInstancesCapacityProviderConfig": {"CapacityProviderArn": cp["CapacityProviderArn"]}}
    created = lam.create_function(FunctionName=fn, Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
                                  Code={"ZipFile": make_zip({"lambda_function.py": CODE})}, CapacityProviderConfig=config)
    assert created["CapacityProviderConfig"] == config
    assert lam.get_function_configuration(FunctionName=fn)["CapacityProviderConfig"] == config
    on = lam.list_function_versions_by_capacity_provider(CapacityProviderName=name)
    assert on["CapacityProviderArn"] == cp["CapacityProviderArn"]
    assert [v["FunctionArn"] for v in on["FunctionVersions"]] == [f"{created['FunctionArn']}:$LATEST"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.delete_capacity_provider(CapacityProviderName=name)
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    lam.delete_function(FunctionName=fn)
    deleted = lam.delete_capacity_provider(CapacityProviderName=name)
    assert deleted["CapacityProvider"]["State"] == "Deleting"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_capacity_provider(CapacityProviderName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_worker_refuses_a_provider_of_another_architecture(cluster):
    data, front, started = cluster
    name = unique("arm-pool")
    provider(front.client(), name, arch="arm64")
    w = node(data, "--role", "worker", "--capacity-provider", name)
    with pytest.raises(RuntimeError) as e:
        w.start()
    started.append(w)
    assert "runs arm64" in str(e.value) and "this host is x86_64" in str(e.value)
    assert "--emulated-pool" in str(e.value)
    # Without a provider, or without the secret, a worker does not start either.
    w2 = Server(data, ["--role", "worker", "--capacity-provider", name])
    with pytest.raises(RuntimeError) as e:
        w2.start()
    started.append(w2)
    assert "--cluster-secret" in str(e.value)


def post_internal(server, headers):
    req = urllib.request.Request(server.url + "/archfn/internal/v1/invoke", data=b"{}", method="POST",
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_the_node_route_needs_the_secret(cluster):
    _, front, _ = cluster
    assert post_internal(front, {}) == 403
    assert post_internal(front, {"Authorization": "Bearer not-the-secret"}) == 403
    assert post_internal(front, {"Authorization": SECRET}) == 403
    # With it, the request is read (and refused for what it lacks).
    assert post_internal(front, {"Authorization": f"Bearer {SECRET}"}) == 400


def test_invocations_go_to_the_worker_and_fall_back_when_it_dies(cluster):
    data, front, started = cluster
    lam = front.client()
    pool = unique("pool")
    cp = provider(lam, pool)
    worker = node(data, "--role", "worker", "--capacity-provider", pool).start()
    started.append(worker)
    front_id, worker_id = node_id(front), node_id(worker)
    assert front_id != worker_id
    fn = unique()
    lam.create_function(FunctionName=fn, Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
                        Code={"ZipFile": make_zip({"lambda_function.py": CODE})},
                        CapacityProviderConfig={"LambdaManagedInstancesCapacityProviderConfig": {
                            "CapacityProviderArn": cp["CapacityProviderArn"]}})
    lam.get_waiter("function_active_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})

    # The front node learns of the worker from its heartbeat (every 2 s, read every second).
    deadline = time.time() + 10
    while True:
        resp, body, headers, log = invoke(lam, fn, {"n": 1})
        if headers.get("x-archfn-placement") == "forwarded" or time.time() > deadline:
            break
        time.sleep(0.2)
    assert headers.get("x-archfn-placement") == "forwarded", headers
    assert headers["x-archfn-node"] == worker_id
    assert headers["x-archfn-execution"] == "native"
    assert body == {"machine": "x86_64", "version": "$LATEST", "event": {"n": 1}}
    assert f"Node: {worker_id}\tExecution: native" in log
    assert headers["x-amz-executed-version"] == "$LATEST"
    assert resp["ResponseMetadata"]["RequestId"] in log

    # The worker runs its provider's functions itself when asked directly.
    resp, body, headers, log = invoke(worker.client(), fn, {"n": "here"})
    assert body["event"] == {"n": "here"}
    assert headers["x-archfn-placement"] == "local" and headers["x-archfn-node"] == worker_id

    # A function error comes back as Lambda sets it.
    failing = unique()
    lam.create_function(FunctionName=failing, Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
                        Code={"ZipFile": make_zip({"lambda_function.py": "def handler(e, c):\n    raise ValueError('no')\n"})},
                        CapacityProviderConfig={"LambdaManagedInstancesCapacityProviderConfig": {
                            "CapacityProviderArn": cp["CapacityProviderArn"]}})
    lam.get_waiter("function_active_v2").wait(FunctionName=failing, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    resp, body, headers, log = invoke(lam, failing)
    assert resp["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert headers["x-archfn-node"] == worker_id and headers["x-archfn-placement"] == "forwarded"

    # An Event invocation is run by the front node's event worker, on the worker node too.
    import boto3
    logs = boto3.client("logs", endpoint_url=front.url, region_name="us-east-1",
                        aws_access_key_id="AKIDARCHFN", aws_secret_access_key="archfn-secret")

    def reports_on_worker():
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{fn}", filterPattern=f'"Node: {worker_id}"')
        return sum(1 for e in events["events"] if e["message"].startswith("REPORT"))

    deadline = time.time() + 10
    while reports_on_worker() < 1 and time.time() < deadline:
        time.sleep(0.2)
    before = reports_on_worker()
    assert before >= 1
    assert lam.invoke(FunctionName=fn, InvocationType="Event", Payload=b'{"n": "event"}')["StatusCode"] == 202
    deadline = time.time() + 20
    while reports_on_worker() <= before and time.time() < deadline:
        time.sleep(0.2)
    assert reports_on_worker() == before + 1

    # The worker dies: the next invocation runs on the front node, said as a fallback.
    worker.kill()
    resp, body, headers, log = invoke(lam, fn, {"n": 2})
    assert resp["StatusCode"] == 200
    assert body["event"] == {"n": 2}
    assert headers["x-archfn-placement"] == "fallback"
    assert headers["x-archfn-node"] == front_id
    assert headers["x-archfn-execution"] == "native"
    assert f"Node: {front_id}\tExecution: native" in log


def test_an_arm64_invoke_runs_on_an_arm64_worker_and_falls_back_to_local_emulation(cluster):
    # This host is x86_64: an arm64 pool's worker can only be one that runs it emulated
    # (--emulated-pool), and says so. What is tested is where the invocation goes.
    data, front, started = cluster
    lam = front.client()
    pool = unique("arm-pool")
    provider(lam, pool, arch="arm64")
    worker = node(data, "--role", "worker", "--capacity-provider", pool, "--emulated-pool").start()
    started.append(worker)
    front_id, worker_id = node_id(front), node_id(worker)
    # An arm64 function without a capacity provider goes to a live worker of its architecture.
    fn = unique()
    lam.create_function(FunctionName=fn, Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
                        Architectures=["arm64"], Code={"ZipFile": make_zip({"lambda_function.py": CODE})})
    lam.get_waiter("function_active_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    deadline = time.time() + 10
    while True:
        resp, body, headers, log = invoke(lam, fn, {"n": 1})
        if headers.get("x-archfn-placement") == "forwarded" or time.time() > deadline:
            break
        time.sleep(0.2)
    assert headers.get("x-archfn-placement") == "forwarded", headers
    assert headers["x-archfn-node"] == worker_id
    assert headers["x-archfn-execution"] == "emulated"
    assert body["machine"] == "aarch64"
    assert f"Node: {worker_id}\tExecution: emulated" in log
    # An x86_64 function is not sent to the arm64 worker.
    x86 = unique()
    lam.create_function(FunctionName=x86, Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
                        Code={"ZipFile": make_zip({"lambda_function.py": CODE})})
    lam.get_waiter("function_active_v2").wait(FunctionName=x86, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    _, body, headers, _ = invoke(lam, x86)
    # (`local`, or `fallback` while an x86_64 worker an earlier test killed still looks alive.)
    assert headers["x-archfn-node"] == front_id and headers["x-archfn-placement"] in ("local", "fallback")
    assert body["machine"] == "x86_64"
    # The worker stops: the front node runs the arm64 function itself, emulated, said as a fallback.
    worker.kill()
    resp, body, headers, log = invoke(lam, fn, {"n": 2})
    assert resp["StatusCode"] == 200 and body["machine"] == "aarch64"
    assert headers["x-archfn-placement"] == "fallback"
    assert headers["x-archfn-node"] == front_id
    assert headers["x-archfn-execution"] == "emulated"
    assert f"Node: {front_id}\tExecution: emulated" in log


def api(server, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_a_shift_continues_on_another_node_when_its_node_is_killed(cluster):
    data, front, started = cluster
    other = node(data).start()
    started.append(other)
    a_id, b_id = node_id(front), node_id(other)
    lam = front.client()
    name = unique("shift")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
                        Code={"ZipFile": make_zip({"lambda_function.py": CODE})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="v2")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    # Driven by the front node (it took the shift's lease when it started it).
    status, d = api(front, "POST", "/archfn/v1/deployments", {
        "functionName": name, "aliasName": "live", "targetVersion": "2", "strategy": "50,100@20s"})
    assert status in (200, 201), d
    dep = d["id"]
    deadline = time.time() + 10
    while time.time() < deadline:
        weights = lam.get_alias(FunctionName=name, Name="live").get("RoutingConfig", {})
        if weights.get("AdditionalVersionWeights") == {"2": 0.5}:
            break
        time.sleep(0.1)
    assert weights.get("AdditionalVersionWeights") == {"2": 0.5}, weights
    # One node at a time reconciles provisioned concurrency: the first one up.
    clean = lambda s: re.sub(r"\x1b\[[0-9;]*m", "", s.log_path.read_text())
    reconciles = "this node reconciles provisioned concurrency"
    assert reconciles in clean(front) and reconciles not in clean(other)
    killed_at = time.time()
    front.kill()

    # The other node sees the lease expire (6 s), takes the shift over from its recorded step,
    # and finishes it.
    deadline = time.time() + 60
    while time.time() < deadline:
        status, d = api(other, "GET", f"/archfn/v1/deployments/{dep}")
        if status == 200 and d["status"] != "InProgress":
            break
        time.sleep(0.25)
    assert d["status"] == "Succeeded", d
    messages = [e["message"] for e in d["events"]]
    assert any("resumed" in m for m in messages), messages
    # Continued, not restarted: one 50% step and then 100%, the first one started before the kill.
    assert [s["percent"] for s in d["steps"]][:2] == [50, 100], d["steps"]
    assert d["steps"][0]["startedMs"] / 1000 < killed_at
    assert "taking over a traffic shift" in re.sub(r"\x1b\[[0-9;]*m", "", other.log_path.read_text())
    alias = other.client().get_alias(FunctionName=name, Name="live")
    assert alias["FunctionVersion"] == "2" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert a_id != b_id
    # The reconciler's lease went to the surviving node too.
    assert reconciles in clean(other)
