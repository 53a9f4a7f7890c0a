"""`archfn migrate`: an x86_64 package with native wheels (or npm platform packages) becomes one
that scans clean for arm64 and runs as arm64."""

import json
import subprocess
import sys
import zipfile

from artifacts import install_wheels, npm_package, wheels
from conftest import archfn_bin, create, make_zip, server_fixture
from test_invoke_wheels import APP


def migrate(*args):
    return subprocess.run([archfn_bin(), "migrate", *map(str, args), "--python", sys.executable],
                          capture_output=True, text=True, timeout=600)


def scan(path, *args):
    return subprocess.run([archfn_bin(), "scan", str(path), *args], capture_output=True, text=True)


# nodejs20.x is past AWS's block-create date; judge runtime policy at an earlier date.
lam = server_fixture("--runtime-policy-date", "2026-01-01", prefix="archfn-migrate-")


def test_python_package_with_native_wheels_moves_to_arm64(lam, tmp_path):
    pkg = install_wheels(wheels("numpy==2.2.6", "six==1.16.0", platform="manylinux2014_x86_64"), tmp_path / "pkg")
    (pkg / "app.py").write_text(APP)
    before = zipfile.ZipFile(tmp_path / "before.zip", "w", zipfile.ZIP_DEFLATED)
    for f in sorted(p for p in pkg.rglob("*") if p.is_file()):
        before.write(f, f.relative_to(pkg).as_posix())
    before.close()
    assert scan(tmp_path / "before.zip", "--target", "arm64").returncode == 1

    out = tmp_path / "arm64.zip"
    r = migrate("python", tmp_path / "before.zip", "--to", "arm64", "-o", out, "--runtime", "python3.11", "--format", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[1/1] numpy 2.2.6: fetching the aarch64 wheel" in r.stderr
    assert "swapped: numpy 2.2.6 → numpy-2.2.6-cp311-cp311-manylinux_2_17_aarch64" in r.stderr
    report = json.loads(r.stdout)
    assert report["compatible"] is True and report["native_files"] > 0
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        assert "app.py" in names and "six.py" in names
        assert not any("x86_64" in n for n in names)
        assert z.read("six.py") == (pkg / "six.py").read_bytes()

    name, _ = create(lam, runtime="python3.11", arch="arm64", zip_bytes=out.read_bytes(), Handler="app.handler",
                     Timeout=120, MemorySize=1024)
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    assert body["machine"] == "aarch64" and body["numpy"] == "2.2.6" and body["dot"] == 506.0


NODE_HANDLER = """
const { execFileSync } = require("child_process");
exports.handler = async () => {
  const bin = require.resolve("@esbuild/linux-" + process.arch + "/bin/esbuild");
  return { arch: process.arch, esbuild: execFileSync(bin, ["--version"]).toString().trim() };
};
"""


def test_node_package_with_a_platform_package_moves_to_arm64(lam, tmp_path):
    pkg = tmp_path / "pkg"
    dest = pkg / "node_modules" / "@esbuild" / "linux-x64"
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-xzf", str(npm_package("@esbuild/linux-x64@0.25.0")), "-C", str(dest),
                    "--strip-components=1"], check=True)
    (pkg / "index.js").write_text(NODE_HANDLER)
    assert scan(pkg, "--target", "arm64").returncode == 1

    out = tmp_path / "arm64.zip"
    r = migrate("node", pkg, "-o", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "swapped: @esbuild/linux-x64 0.25.0 → @esbuild/linux-arm64 0.25.0" in r.stderr
    name, _ = create(lam, runtime="nodejs20.x", arch="arm64", zip_bytes=out.read_bytes(), Handler="index.handler",
                     Timeout=60, MemorySize=512)
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    assert body == {"arch": "arm64", "esbuild": "0.25.0"}


def test_what_cannot_be_swapped_is_said(tmp_path):
    # A wheel version with no aarch64 build on PyPI: numpy 1.18.5 (aarch64 wheels start at 1.19.0).
    (whl,) = wheels("numpy==1.18.5", platform="manylinux1_x86_64", python="3.8")
    pkg = tmp_path / "pkg"
    with zipfile.ZipFile(whl) as z:  # a wheel for another Python: installing is unpacking
        z.extractall(pkg)
    out = tmp_path / "out.zip"
    r = migrate("python", pkg, "-o", out)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "not swapped: numpy 1.18.5: no aarch64 wheel on PyPI" in r.stderr
    assert "upgrade to numpy>=1.19.0" in r.stdout
    bad = scan(tmp_path / "nope.zip")
    assert bad.returncode == 2
    junk = tmp_path / "junk.zip"
    junk.write_bytes(make_zip({"../escape.py": "x"}))
    r = migrate("python", junk, "-o", out)
    assert r.returncode == 2 and "outside the package" in r.stderr
