"""Node.js functions (Debian's nodejs 20 as nodejs20.x, and bookworm's nodejs 18 as nodejs18.x) on
both ISAs. Both are past AWS's "block function create" date, so this server judges runtime policy
at an earlier date."""

import json

import pytest

from conftest import create, make_zip, server_fixture

HANDLER = """
let count = 0;
exports.handler = async (event, context) => {
  count += 1;
  console.log("node on", process.arch);
  if (event.action === "throw") throw new TypeError("nope " + event.n);
  return { arch: process.arch, count, event, fn: context.functionName, mem: context.memoryLimitInMB };
};
exports.callback = (event, context, cb) => cb(null, { viaCallback: true, arch: process.arch });
"""


lam = server_fixture("--runtime-policy-date", "2026-01-01", prefix="archfn-node-")


@pytest.mark.parametrize("runtime", ["nodejs20.x", "nodejs18.x"])
@pytest.mark.parametrize("arch,node_arch", [("x86_64", "x64"), ("arm64", "arm64")])
def test_process_arch_matches(lam, runtime, arch, node_arch):
    name, _ = create(lam, runtime=runtime, arch=arch, zip_bytes=make_zip({"index.js": HANDLER}), Handler="index.handler")
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"x": 1}))
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    assert body == {"arch": node_arch, "count": 1, "event": {"x": 1}, "fn": name, "mem": "128"}
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "throw", "n": 2}))
    err = json.loads(r["Payload"].read())
    assert r["FunctionError"] == "Unhandled" and err["errorType"] == "TypeError" and err["errorMessage"] == "nope 2"
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(r["Payload"].read())["count"] == 3, "the environment survived the error"


def test_callback_handlers_and_missing_handlers(lam):
    name, _ = create(lam, runtime="nodejs20.x", arch="arm64", zip_bytes=make_zip({"index.js": HANDLER}), Handler="index.callback")
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(r["Payload"].read()) == {"viaCallback": True, "arch": "arm64"}
    name, _ = create(lam, runtime="nodejs20.x", arch="x86_64", zip_bytes=make_zip({"index.js": HANDLER}), Handler="index.nothere")
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert r["FunctionError"] == "Unhandled"
    assert json.loads(r["Payload"].read())["errorType"] == "Runtime.HandlerNotFound"


def test_blocked_runtime_is_refused_at_todays_date(server, runtimes):
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(server.client(), runtime="nodejs20.x", wait=False, Handler="index.handler")
    assert "The runtime parameter of nodejs20.x is no longer supported" in e.value.response["Error"]["Message"]
