"""A real manylinux aarch64 wheel from PyPI (numpy), imported by an arm64 function under QEMU,
and refused by an x86_64 function, as on Lambda."""

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, create

CACHE = REPO / "target" / "test-cache" / "wheels"

APP = """
import platform
def handler(event, context):
    import numpy as np
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    return {"machine": platform.machine(), "numpy": np.__version__, "sum": float(a.sum()), "dot": float((a @ a.T).trace())}
"""


def numpy_wheel(platform_tag: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob(f"numpy-*-cp311-*{platform_tag.split('_', 1)[1]}*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--platform", platform_tag,
                        "--python-version", "3.11", "--implementation", "cp", "--no-deps", "-d", str(CACHE), "numpy==2.2.6"], check=True)
        found = sorted(CACHE.glob(f"numpy-*-cp311-*{platform_tag.split('_', 1)[1]}*.whl"))
    return found[-1]


def package_with(wheel: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out, zipfile.ZipFile(wheel) as whl:
        for info in whl.infolist():
            data = whl.read(info.filename)
            entry = zipfile.ZipInfo(info.filename)
            entry.external_attr = info.external_attr or (0o644 << 16)
            entry.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(entry, data)
        out.writestr("app.py", APP)
    return buf.getvalue()


@pytest.fixture(scope="module")
def arm_package():
    return package_with(numpy_wheel("manylinux2014_aarch64"))


def test_numpy_aarch64_wheel_runs_as_arm64(lam, runtimes, arm_package):
    name, _ = create(lam, runtime="python3.11", arch="arm64", zip_bytes=arm_package, Handler="app.handler", Timeout=120, MemorySize=1024)
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    assert body["machine"] == "aarch64" and body["numpy"] == "2.2.6"
    assert body["sum"] == 66.0
    assert body["dot"] == 506.0


def test_numpy_aarch64_wheel_fails_in_an_x86_64_function(lam, runtimes, arm_package):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=arm_package, Handler="app.handler", Timeout=60, MemorySize=1024)
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ImportError", body
