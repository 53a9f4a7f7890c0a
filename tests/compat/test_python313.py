"""python3.13 (Debian trixie's interpreter) on both ISAs."""

import json

import pytest

from conftest import create, make_zip

APP = """
import platform, sys
def handler(event, context):
    return {"machine": platform.machine(), "python": "%d.%d" % sys.version_info[:2], "event": event}
"""


@pytest.mark.parametrize("arch,machine", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_python313_runs_on_its_isa(lam, runtimes, arch, machine):
    name, _ = create(lam, runtime="python3.13", arch=arch, zip_bytes=make_zip({"app.py": APP}), Handler="app.handler",
                     Timeout=30)
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"k": 1}))
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    assert body == {"machine": machine, "python": "3.13", "event": {"k": 1}}
