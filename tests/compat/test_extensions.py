"""External extensions (`/opt/extensions/*` from a layer) through the Extensions API: they are
started with the runtime, register for INVOKE and SHUTDOWN, hold init open until their first
`/event/next`, get every invocation's INVOKE event, and the invocation ends when they are done."""

import base64
import json
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import Server, archfn_bin, create, make_zip

RECORDER = '''#!/usr/bin/python3.11
import json, os, sys, urllib.request
api = os.environ["AWS_LAMBDA_RUNTIME_API"]

def call(method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://{api}/2020-01-01/extension/{path}", data=body, method=method,
                                 headers=headers or {})
    with urllib.request.urlopen(req) as r:
        return r.headers, json.loads(r.read() or b"{}")

h, info = call("POST", "register", json.dumps({"events": ["INVOKE", "SHUTDOWN"]}).encode(),
               {"Lambda-Extension-Name": "recorder", "Lambda-Extension-Accept-Feature": "accountId"})
ext_id = h["Lambda-Extension-Identifier"]
with open("/tmp/recorder-registered", "w") as f:
    json.dump(info, f)
while True:
    _, ev = call("GET", "event/next", headers={"Lambda-Extension-Identifier": ext_id})
    if ev["eventType"] == "SHUTDOWN":
        print(f"recorder got SHUTDOWN {ev['shutdownReason']}", flush=True)
        sys.exit(0)
    print(f"recorder saw {ev['eventType']} {ev['requestId']} {ev['invokedFunctionArn']}", flush=True)
    with open("/tmp/recorder-invokes", "a") as f:
        f.write(ev["requestId"] + "\\n")
'''

APP = '''
import json, os
def handler(event, context):
    seen = open("/tmp/recorder-invokes").read().split() if os.path.exists("/tmp/recorder-invokes") else []
    return {"registered": json.load(open("/tmp/recorder-registered")), "seen_before": seen,
            "request_id": context.aws_request_id}
'''


def layer_zip() -> bytes:
    return make_zip({"extensions/recorder": RECORDER}, executable=True)


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_an_external_extension_sees_every_invoke(lam, runtimes, arch):
    layer = lam.publish_layer_version(LayerName="recorder", Content={"ZipFile": layer_zip()})["LayerVersionArn"]
    name, _ = create(lam, runtime="python3.11", arch=arch, zip_bytes=make_zip({"app.py": APP}), Handler="app.handler",
                     Layers=[layer], Timeout=30)
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    assert body["registered"] == {"functionName": name, "functionVersion": "$LATEST", "handler": "app.handler",
                                  "accountId": "000000000000"}
    log = base64.b64decode(r["LogResult"]).decode()
    assert "EXTENSION\tName: recorder\tState: Ready\tEvents: [INVOKE, SHUTDOWN]" in log, log
    first = body["request_id"]
    assert f"recorder saw INVOKE {first} arn:aws:lambda:us-east-1:000000000000:function:{name}" in log, log
    # The invocation ended only when the extension was done with it, so the next one finds its
    # record of the first (and perhaps of itself: the extension gets INVOKE as the runtime does).
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert body["seen_before"][0] == first and set(body["seen_before"]) <= {first, body["request_id"]}


PROBE = '''
import json, os, urllib.error, urllib.request
def status(method, path, body=None, headers=None):
    req = urllib.request.Request("http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + path, data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
def handler(event, context):
    return {
        "no_name": status("POST", "/2020-01-01/extension/register", b"{}"),
        "bad_event": status("POST", "/2020-01-01/extension/register", json.dumps({"events": ["BOGUS"]}).encode(),
                            {"Lambda-Extension-Name": "x"}),
        "unknown_id": status("GET", "/2020-01-01/extension/event/next", None, {"Lambda-Extension-Identifier": "nope"}),
    }
'''


def test_extensions_api_errors(lam, runtimes):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": PROBE}), Handler="app.handler")
    body = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert body["no_name"] == [403, {"errorMessage": "Empty extension name", "errorType": "Extension.InvalidExtensionName"}]
    assert body["bad_event"][0] == 403 and body["bad_event"][1]["errorType"] == "Extension.InvalidEventType"
    assert body["unknown_id"] == [403, {"errorMessage": "missing or unknown Lambda-Extension-Identifier",
                                        "errorType": "Extension.UnknownExtensionIdentifier"}]


def test_extensions_hear_shutdown_and_what_they_print_is_kept(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-ext-") as d:
        server = Server(Path(d) / "data", ["--idle-timeout", "1"]).start()
        try:
            lam = server.client()
            layer = lam.publish_layer_version(LayerName="recorder", Content={"ZipFile": layer_zip()})["LayerVersionArn"]
            name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}),
                             Handler="app.handler", Layers=[layer])
            assert "FunctionError" not in lam.invoke(FunctionName=name, Payload=b"{}")
            # The idle environment is reaped after a second; the extension gets SHUTDOWN and
            # what it prints then lands in the function's log.
            deadline = time.time() + 15
            while time.time() < deadline:
                out = subprocess.run([archfn_bin(), "logs", name, "--endpoint", server.url],
                                     capture_output=True, text=True).stdout
                if "recorder got SHUTDOWN spindown" in out:
                    break
                time.sleep(0.5)
            assert "recorder got SHUTDOWN spindown" in out, out
        finally:
            server.stop()


# An internal extension: code in the runtime's process that registers during init (here at import
# time, with a thread for its event loop), as tracing agents do.
INTERNAL = '''
import json, os, threading, urllib.request, urllib.error
api = os.environ["AWS_LAMBDA_RUNTIME_API"]
answers = {}
seen = []

def call(method, path, body=None, headers=None):
    req = urllib.request.Request(f"http://{api}/2020-01-01/extension/{path}", data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())

def register(name, events):
    status, headers, body = call("POST", "register", json.dumps({"events": events}).encode(),
                                 {"Lambda-Extension-Name": name} if name else {})
    return status, headers.get("Lambda-Extension-Identifier"), body

def loop(ext_id):
    while True:
        _, _, ev = call("GET", "event/next", headers={"Lambda-Extension-Identifier": ext_id})
        seen.append(ev["requestId"])

answers["shutdown"] = register("tracer", ["SHUTDOWN"])[::2]
answers["empty_name"] = register("", ["INVOKE"])[::2]
answers["bad_event"] = register("tracer", ["RESTART"])[::2]
status, ext_id, _ = register("tracer", ["INVOKE"])
answers["ok"] = status
answers["again"] = register("tracer", ["INVOKE"])[::2]
threading.Thread(target=loop, args=(ext_id,), daemon=True).start()
# Up to ten extensions in all; each must ask for its first event before init can end.
for i in range(9):
    status, other, _ = register(f"helper-{i}", [])
    threading.Thread(target=loop, args=(other,), daemon=True).start()
answers["eleventh"] = register("one-too-many", [])[::2]

def handler(event, context):
    answers["after_init"] = register("late", ["INVOKE"])[::2]
    return {"answers": answers, "seen": list(seen), "request_id": context.aws_request_id}
'''


def test_an_internal_extension_registers_from_the_runtime_process(lam, runtimes):
    name, _ = create(lam, runtime="python3.11", zip_bytes=make_zip({"app.py": INTERNAL}), Handler="app.handler",
                     Timeout=30)
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    a = body["answers"]
    err = lambda pair: [pair[0], pair[1]["errorType"], pair[1]["errorMessage"]]
    assert err(a["shutdown"]) == [403, "Extension.InvalidEventType",
                                  "SHUTDOWN: ShutdownEventNotSupportedForInternalExtension"]
    assert err(a["empty_name"]) == [403, "Extension.InvalidExtensionName", "Empty extension name"]
    assert err(a["bad_event"]) == [403, "Extension.InvalidEventType", "RESTART: ErrorInvalidEventType"]
    assert a["ok"] == 200
    assert err(a["again"]) == [403, "Extension.InvalidExtensionState", "Extension with this name already registered"]
    assert err(a["eleventh"]) == [403, "Extension.TooManyExtensions", "Extension limit (10) reached"]
    assert err(a["after_init"]) == [403, "Extension.RegistrationClosed", "Extension registration closed already"]
    log = base64.b64decode(r["LogResult"]).decode()
    assert "EXTENSION\tName: tracer\tState: Ready\tEvents: [INVOKE]" in log, log
    # The internal extension gets INVOKE events like an external one, and the invocation waits
    # for it: by the second invocation it has seen the first.
    second = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert body["request_id"] in second["seen"]


def c_program(cc: str) -> bytes:
    """A static C program that does nothing, built with `cc` (gcc, or the aarch64 cross gcc)."""
    d = Path(tempfile.mkdtemp())
    (d / "ext.c").write_text("int main(void) { return 0; }\n")
    subprocess.run([cc, "-static", "-O2", "-o", str(d / "ext"), str(d / "ext.c")], check=True)
    return (d / "ext").read_bytes()


@pytest.mark.parametrize("arch,cc", [("x86_64", "aarch64-linux-gnu-gcc"), ("arm64", "gcc")])
def test_an_extension_of_the_other_isa_fails_init_with_a_launch_error(lam, runtimes, arch, cc):
    # The migration case: a layer's extension built for x86_64 on an arm64 function (and the
    # reverse) cannot start; init fails with Extension.LaunchError instead of waiting for it.
    agent = make_zip({"extensions/agent": c_program(cc)}, executable=True)
    layer = lam.publish_layer_version(LayerName="foreign-agent", Content={"ZipFile": agent})["LayerVersionArn"]
    name, _ = create(lam, runtime="python3.11", arch=arch, zip_bytes=make_zip({"app.py": APP}), Handler="app.handler",
                     Layers=[layer], Timeout=30)
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    body = json.loads(r["Payload"].read())
    assert r.get("FunctionError") == "Unhandled", body
    assert body["errorType"] == "Extension.LaunchError", body
    assert body["errorMessage"].endswith("Error: fork/exec /opt/extensions/agent: exec format error")
    log = base64.b64decode(r["LogResult"]).decode()
    assert "EXTENSION\tName: agent\tState: LaunchError\tEvents: []\tError Type: UnknownError" in log, log
    assert "Status: error\tError Type: Extension.LaunchError" in log, log
