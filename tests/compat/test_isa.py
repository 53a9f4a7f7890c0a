"""An execution environment behaves like a processor of the function's ISA: executables of the
other ISA fail with "Exec format error" (exit 126), as on real hardware, instead of running on
the host natively or under the host's QEMU (shared/spec/isa-enforcement.md)."""

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import create, make_zip

HELPER_C = r'''
#include <stdio.h>
#include <sys/utsname.h>
int main(void) { struct utsname u; uname(&u); printf("helper on %s\n", u.machine); return 0; }
'''

APP = '''
import platform, subprocess
def handler(event, context):
    out = {"machine": platform.machine()}
    for name in ("helper-x86_64", "helper-aarch64"):
        r = subprocess.run(["/var/task/" + name], capture_output=True, text=True)
        out[name] = {"rc": r.returncode, "out": r.stdout.strip(), "err": r.stderr.strip()}
    return out
'''


def helper(cc: str) -> bytes:
    src = Path(tempfile.mkdtemp()) / "helper.c"
    src.write_text(HELPER_C)
    out = src.with_suffix("")
    subprocess.run([cc, "-static", "-O2", "-o", str(out), str(src)], check=True)
    return out.read_bytes()


@pytest.fixture(scope="module")
def package():
    return make_zip({"app.py": APP, "helper-x86_64": helper("gcc"),
                     "helper-aarch64": helper("aarch64-linux-gnu-gcc")}, executable=True)


@pytest.mark.parametrize("arch,machine,other", [("arm64", "aarch64", "x86_64"), ("x86_64", "x86_64", "aarch64")])
def test_only_the_functions_isa_runs(lam, runtimes, package, arch, machine, other):
    name, _ = create(lam, runtime="python3.11", arch=arch, zip_bytes=package, Handler="app.handler", Timeout=60)
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    assert body["machine"] == machine
    own = body[f"helper-{machine}"]
    assert own == {"rc": 0, "out": f"helper on {machine}", "err": ""}
    refused = body[f"helper-{other}"]
    assert refused["rc"] == 126, refused
    assert refused["out"] == ""
    assert refused["err"] == f"/var/task/helper-{other}: cannot execute binary file: Exec format error"
