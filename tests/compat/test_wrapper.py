"""Managed runtimes as Lambda's: a shell is there (`subprocess` with `shell=True`), and
`AWS_LAMBDA_EXEC_WRAPPER` starts the runtime through the function's wrapper script, which gets
the interpreter and its arguments. OS-only runtimes ignore the variable, as on Lambda."""

import json

import pytest

from conftest import create, make_zip, server_fixture

# nodejs20.x is past AWS's "block function create" date: judge runtime policy earlier.
lam = server_fixture("--runtime-policy-date", "2026-01-01", prefix="archfn-wrapper-")

WRAPPER = '''#!/bin/bash
# Records how it was called, sets a variable, and starts the runtime with an extra option.
echo "$@" > /tmp/wrapper-args
export WRAPPED_BY="wrapper on $(uname -m)"
exec "$@"
'''

PY_APP = '''
import os, platform, subprocess
def handler(event, context):
    shell = subprocess.run("echo hello | tr a-z A-Z", shell=True, capture_output=True, text=True).stdout.strip()
    return {"wrapped_by": os.environ.get("WRAPPED_BY"), "args": open("/tmp/wrapper-args").read().split(),
            "shell": shell, "machine": platform.machine()}
'''

NODE_APP = '''
const fs = require("fs");
exports.handler = async () => ({ wrapped_by: process.env.WRAPPED_BY,
  args: fs.readFileSync("/tmp/wrapper-args", "utf8").trim().split(" "), arch: process.arch });
'''


@pytest.mark.parametrize("arch,machine", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_python_starts_through_the_wrapper_script(lam, arch, machine):
    name, _ = create(lam, runtime="python3.11", arch=arch, zip_bytes=make_zip({"app.py": PY_APP, "wrapper": WRAPPER}, executable=True),
                     Handler="app.handler", Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper"}},
                     Timeout=30)
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    # The wrapper ran on the function's ISA, and got the interpreter first, then its arguments.
    assert body["wrapped_by"] == f"wrapper on {machine}" and body["machine"] == machine
    assert body["args"][0] == "/usr/bin/python3.11" and body["args"][-1].startswith("/var/runtime/")
    assert body["shell"] == "HELLO"


def test_node_starts_through_the_wrapper_script(lam):
    name, _ = create(lam, runtime="nodejs20.x", zip_bytes=make_zip({"index.js": NODE_APP, "wrapper": WRAPPER}, executable=True),
                     Handler="index.handler", Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper"}},
                     Timeout=30)
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    assert body["wrapped_by"] == "wrapper on x86_64" and body["args"][0] == "/usr/bin/node"


def test_a_missing_wrapper_fails_the_init(lam):
    name, _ = create(lam, runtime="python3.11", zip_bytes=make_zip({"app.py": PY_APP}), Handler="app.handler",
                     Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/missing"}})
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert r["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.ExitError", body


def test_os_only_runtimes_ignore_the_wrapper(lam):
    bootstrap = '''#!/bin/sh
set -e
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  id=$(grep -i lambda-runtime-aws-request-id "$headers" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$id/response" -d "\\"${WRAPPED_BY:-unwrapped}\\"" > /dev/null
done
'''
    name, _ = create(lam, runtime="provided.al2023", zip_bytes=make_zip({"bootstrap": bootstrap, "wrapper": WRAPPER}, executable=True),
                     Handler="bootstrap", Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper"}})
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(r["Payload"].read()) == "unwrapped"
