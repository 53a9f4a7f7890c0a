"""The Telemetry API (2022-07-01) and the older Logs API (2020-08-15): an extension subscribes
during init and is sent the environment's platform events and the function's log lines, over HTTP
and over TCP, to a listener it opens on `sandbox.localdomain`."""

import json
import time

import pytest

from conftest import create, free_port, make_zip

# An extension that opens a listener, subscribes, and appends every event it receives to
# /tmp/telemetry.jsonl, which the function (same environment, same /tmp) reads back.
LISTENER = '''#!/usr/bin/python3.11
import json, os, socketserver, sys, threading, urllib.request, urllib.error
from http.server import BaseHTTPRequestHandler, HTTPServer
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
PROTOCOL, PORT, API = "%(protocol)s", %(port)d, "%(api)s"
PATHS = {"telemetry": "2022-07-01/telemetry", "logs": "2020-08-15/logs"}
VERSIONS = {"telemetry": "2022-12-13", "logs": "2021-03-18"}

def record(events):
    with open("/tmp/telemetry.jsonl", "a") as f:
        for e in events:
            f.write(json.dumps(e) + "\\n")

class Http(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        record(json.loads(body))
        self.send_response(200); self.end_headers()
    def log_message(self, *a):
        pass

class Tcp(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            record([json.loads(line)])

LATE = %(late)s  # listen only from the second INVOKE on: what came before cannot be delivered

def listen():
    if PROTOCOL == "HTTP":
        server = HTTPServer(("sandbox.localdomain", PORT), Http)
    else:
        server = socketserver.ThreadingTCPServer(("sandbox.localdomain", PORT), Tcp)
    threading.Thread(target=server.serve_forever, daemon=True).start()

if not LATE:
    listen()

def call(method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://{api}/{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()

_, h, _ = call("POST", "2020-01-01/extension/register", json.dumps({"events": ["INVOKE"] if LATE else []}).encode(),
               {"Lambda-Extension-Name": "listener"})
ext = h["Lambda-Extension-Identifier"]
# A bad request first: its answer is kept for the test.
bad = call("PUT", PATHS[API], json.dumps({"schemaVersion": VERSIONS[API], "types": ["platform"],
           "destination": {"protocol": PROTOCOL, "URI": "http://sandbox.localdomain"}}).encode(),
           {"Lambda-Extension-Identifier": ext})
good = {"schemaVersion": VERSIONS[API], "types": ["platform", "function"],
        "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
        "destination": {"protocol": PROTOCOL, "URI": f"http://sandbox.localdomain:{PORT}"}}
status, _, body = call("PUT", PATHS[API], json.dumps(good).encode(), {"Lambda-Extension-Identifier": ext})
# The same extension again: no second subscription (no duplicated events).
call("PUT", PATHS[API], json.dumps(good).encode(), {"Lambda-Extension-Identifier": ext})
# The other API is refused once one is in use.
other = "logs" if API == "telemetry" else "telemetry"
mixed = call("PUT", PATHS[other], json.dumps(dict(good, schemaVersion=VERSIONS[other])).encode(),
             {"Lambda-Extension-Identifier": ext})
with open("/tmp/subscribe.json", "w") as f:
    json.dump({"status": status, "body": body.decode(), "bad": [bad[0], json.loads(bad[2])],
               "mixed": [mixed[0], json.loads(mixed[2])["errorType"]]}, f)
invokes = 0
while True:
    call("GET", "2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": ext})
    invokes += 1
    if LATE and invokes == 2:
        listen()
'''

APP = '''
import json, os, time
print("function init line", flush=True)
def handler(event, context):
    print("handler line " + context.aws_request_id, flush=True)
    want = event.get("wait_for")
    deadline = time.time() + 10
    while True:
        events = [json.loads(l) for l in open("/tmp/telemetry.jsonl")] if os.path.exists("/tmp/telemetry.jsonl") else []
        if not want or any(e["type"] == "platform.report" and e["record"]["requestId"] == want for e in events) \\
                or time.time() > deadline:
            break
        time.sleep(0.02)
    return {"subscribe": json.load(open("/tmp/subscribe.json")), "events": events}
'''


def layer_zip(protocol: str, port: int, api: str = "telemetry", late: bool = False) -> bytes:
    listener = LISTENER % {"protocol": protocol, "port": port, "api": api, "late": late}
    return make_zip({"extensions/listener": listener}, executable=True)


def with_listener(lam, layer_name: str, layer: bytes, **config) -> str:
    """A function running APP with the listener extension of `layer`; its name."""
    arn = lam.publish_layer_version(LayerName=layer_name, Content={"ZipFile": layer})["LayerVersionArn"]
    name, _ = create(lam, runtime="python3.11", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler",
                     Layers=[arn], Timeout=30, **config)
    return name


def invoke_and_collect(lam, name):
    """Invokes `name`, then invokes it again to read what the listener had received once the
    first invocation's platform.report arrived: (first response, its request id, second's body)."""
    first = lam.invoke(FunctionName=name, Payload=b"{}")
    first_id = first["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    second = json.loads(lam.invoke(FunctionName=name, Payload=json.dumps({"wait_for": first_id}))["Payload"].read())
    return first, first_id, second


def subscribed(second, own_error: str, other_apis_error: str):
    """Checks what the listener's subscriptions were answered (accepted; a URI without a port
    refused with this API's error type; a subscription through the other API refused with its
    type) and returns the events it received with their types."""
    sub = second["subscribe"]
    assert (sub["status"], json.loads(sub["body"])) == (200, "OK")
    assert sub["bad"] == [400, {"errorType": own_error, "errorMessage": "URI port is not provided"}]
    assert sub["mixed"] == [400, other_apis_error]
    events = second["events"]
    return events, [e["type"] for e in events]


@pytest.mark.parametrize("protocol", ["HTTP", "TCP"])
def test_a_subscribed_extension_receives_platform_events_and_function_logs(lam, runtimes, protocol):
    name = with_listener(lam, "listener", layer_zip(protocol, free_port()), MemorySize=256)
    first, first_id, second = invoke_and_collect(lam, name)
    assert "FunctionError" not in first

    events, types = subscribed(second, "ValidationError", "Logs.ValidationError")
    assert types.count("platform.telemetrySubscription") == 1
    # Init's events were kept for the subscriber, which subscribed during init.
    assert types[0] == "platform.initStart", types
    assert events[0]["record"]["functionName"] == name and events[0]["record"]["phase"] == "init"
    assert "platform.telemetrySubscription" in types
    sub_event = events[types.index("platform.telemetrySubscription")]["record"]
    assert sub_event == {"name": "listener", "state": "Subscribed", "types": ["platform", "function"]}
    logs = [e["record"] for e in events if e["type"] == "function"]
    assert "function init line" in logs and f"handler line {first_id}" in logs, logs
    assert types.index("platform.initRuntimeDone") < types.index("platform.initReport") < types.index("platform.start")

    by_type = {}
    for e in events:  # the first of each type: the first invocation's
        by_type.setdefault(e["type"], e)
    assert by_type["platform.start"]["record"] == {"requestId": first_id, "version": "$LATEST"}
    done = by_type["platform.runtimeDone"]["record"]
    assert done["requestId"] == first_id and done["status"] == "success" and done["metrics"]["producedBytes"] > 0
    report = by_type["platform.report"]["record"]
    m = report["metrics"]
    assert report["requestId"] == first_id and report["status"] == "success"
    assert m["memorySizeMB"] == 256 and 0 < m["maxMemoryUsedMB"] <= 256
    assert m["billedDurationMs"] >= m["durationMs"] > 0 and m["initDurationMs"] > 0
    assert all(e["time"].endswith("Z") and "T" in e["time"] for e in events)


def test_the_logs_api_sends_its_own_event_shapes(lam, runtimes):
    name = with_listener(lam, "logs-listener", layer_zip("HTTP", free_port(), "logs"), MemorySize=256)
    _, first_id, second = invoke_and_collect(lam, name)
    events, types = subscribed(second, "Logs.ValidationError", "ValidationError")
    # No Telemetry API events: the Logs API's own, in its shapes (schema 2021-03-18 adds runtimeDone).
    assert not any(t.startswith("platform.init") or t == "platform.telemetrySubscription" for t in types), types
    assert types.count("platform.logsSubscription") == 1
    mine = [e for e in events if isinstance(e["record"], dict) and e["record"].get("requestId") == first_id]
    assert [e["type"] for e in mine] == ["platform.start", "platform.runtimeDone", "platform.end", "platform.report"]
    assert mine[0]["record"] == {"requestId": first_id} and mine[2]["record"] == {"requestId": first_id}
    assert mine[1]["record"] == {"requestId": first_id, "status": "success"}
    assert set(mine[3]["record"]) == {"requestId", "metrics"} and mine[3]["record"]["metrics"]["memorySizeMB"] == 256
    assert f"handler line {first_id}" in [e["record"] for e in events if e["type"] == "function"]


def test_what_a_subscriber_could_not_take_is_reported_as_dropped(lam, runtimes):
    # The listener opens only at the second INVOKE, so init's and the first invocation's events
    # cannot be delivered; the first batch it does get starts with platform.logsDropped.
    name = with_listener(lam, "late-listener", layer_zip("HTTP", free_port(), late=True))
    lam.invoke(FunctionName=name, Payload=b"{}")
    time.sleep(0.5)  # well past the 25 ms batching: every delivery so far has been tried, and failed
    events = invoke_and_collect(lam, name)[2]["events"]
    types = [e["type"] for e in events]
    assert "platform.initStart" not in types, types
    assert types[0] == "platform.logsDropped", types
    record = events[0]["record"]
    # At least init's five events and the first invocation's start, runtimeDone and report.
    assert record["droppedRecords"] >= 8 and record["droppedBytes"] > 500, record
    assert record["reason"].startswith("Consumer seems to have fallen behind")


def test_telemetry_subscription_needs_a_registered_extension(server, lam, runtimes):
    # The Telemetry API lives on each environment's Runtime API listener; an unknown extension
    # identifier is refused there. Reached from inside a function, as an extension would.
    app = '''
import json, os, urllib.request, urllib.error
def handler(event, context):
    req = urllib.request.Request(f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2022-07-01/telemetry", method="PUT",
        data=b"{}", headers={"Lambda-Extension-Identifier": "not-an-extension"})
    try:
        urllib.request.urlopen(req)
    except urllib.error.HTTPError as e:
        return [e.code, json.loads(e.read())["errorType"]]
'''
    name, _ = create(lam, runtime="python3.11", zip_bytes=make_zip({"app.py": app}), Handler="app.handler")
    body = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert body == [403, "Extension.UnknownExtensionIdentifier"]


FIXED_PORT_APP = '''
import json, os, time
def handler(event, context):
    time.sleep(1)  # keep this environment busy, so that the other invocation gets its own
    deadline = time.time() + 10
    events = []
    while time.time() < deadline:
        if os.path.exists("/tmp/telemetry.jsonl"):
            events = [json.loads(l) for l in open("/tmp/telemetry.jsonl")]
            if any(e["type"] == "platform.start" for e in events):
                break
        time.sleep(0.05)
    return {"status": json.load(open("/tmp/subscribe.json"))["status"],
            "types": sorted({e["type"] for e in events}),
            "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}
'''


def test_two_environments_of_a_function_listen_on_the_same_port(lam, runtimes):
    # Each environment has its own network, as on Lambda: an extension that listens on a fixed
    # port works in every environment of its function at once.
    import concurrent.futures

    arn = lam.publish_layer_version(LayerName="fixed-port", Content={"ZipFile": layer_zip("HTTP", 4243)})["LayerVersionArn"]
    name, _ = create(lam, runtime="python3.11", zip_bytes=make_zip({"app.py": FIXED_PORT_APP}), Handler="app.handler",
                     Layers=[arn], Timeout=30)

    def one(_):
        r = lam.invoke(FunctionName=name, Payload=b"{}")
        return r.get("FunctionError"), json.loads(r["Payload"].read())

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(one, range(2)))
    assert [err for err, _ in results] == [None, None], results
    bodies = [body for _, body in results]
    assert bodies[0]["stream"] != bodies[1]["stream"], "both invocations ran in one environment"
    for body in bodies:
        assert body["status"] == 200
        assert "platform.initStart" in body["types"] and "platform.start" in body["types"], body
