"""`archfn scan` on real artifacts: numpy's manylinux aarch64 wheel from PyPI, and C bootstraps
built for each ISA. Exit 0 compatible, 1 incompatible, 2 unreadable."""

import json
import subprocess
import zipfile

import pytest

from conftest import archfn_bin
from test_invoke import build_c_runtime
from test_invoke_wheels import numpy_wheel


def scan(*args):
    return subprocess.run([archfn_bin(), "scan", *map(str, args)], capture_output=True, text=True)


def test_aarch64_wheel_verdicts_and_json_shape():
    wheel = numpy_wheel("manylinux2014_aarch64")
    ok = scan(wheel, "--target", "arm64", "--format", "json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["compatible"] is True
    bad = scan(wheel, "--target", "x86_64", "--format", "json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["target"] == "x86_64" and report["compatible"] is False
    for f in report["findings"]:
        assert set(f) >= {"path", "component", "kind", "architecture", "severity", "message", "advice"}
    so = [f for f in report["findings"] if f["kind"] == "elf" and f["path"].endswith(".so")]
    assert so and all(f["component"] == "numpy 2.2.6" and f["architecture"] == "aarch64" for f in so)
    assert "pip download --platform manylinux2014_x86_64 --only-binary=:all: numpy==2.2.6" in so[0]["advice"]


def test_bootstrap_of_the_wrong_isa(tmp_path):
    x86 = tmp_path / "x86.zip"
    x86.write_bytes(build_c_runtime("x86_64"))
    arm = tmp_path / "arm.zip"
    arm.write_bytes(build_c_runtime("arm64"))
    out = scan(x86, "--target", "arm64")
    assert out.returncode == 1
    assert "bootstrap: x86_64 static bootstrap: Lambda cannot start the runtime (Runtime.InvalidEntrypoint, exec format error) on arm64" in out.stdout
    assert scan(arm, "--target", "arm64").returncode == 0
    assert scan(arm, "--target", "x86_64").returncode == 1


def test_unreadable_input_exits_2(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    out = scan(junk)
    assert out.returncode == 2 and "not a readable archive" in out.stderr
    assert scan(tmp_path / "missing.zip").returncode == 2
    assert scan(junk, "--target", "sparc").returncode == 2


def test_readiness_of_a_deployed_function_with_layers(server, lam, runtimes):
    """The API and `archfn scan --function` scan code, layers and runtime together."""
    from conftest import create, make_zip
    import urllib.request

    layer = lam.publish_layer_version(LayerName="natives", Content={"ZipFile": build_c_runtime("x86_64")},
                                      CompatibleArchitectures=["x86_64"])["LayerVersionArn"]
    name, _ = create(lam, runtime="python3.11", arch="x86_64", Layers=[layer], zip_bytes=make_zip({"app.py": "x = 1\n"}))
    with urllib.request.urlopen(f"{server.url}/archfn/v1/functions/{name}/readiness?target=arm64") as r:
        report = json.loads(r.read())
    assert report["target"] == "arm64" and report["compatible"] is False
    bad = [f for f in report["findings"] if f["severity"] == "incompatible"]
    assert [f["path"] for f in bad] == [f"{layer}!/bootstrap"]
    out = subprocess.run([archfn_bin(), "scan", "--function", name, "--endpoint", server.url], capture_output=True, text=True)
    assert out.returncode == 1 and f"{layer}!/bootstrap" in out.stdout
    out = subprocess.run([archfn_bin(), "scan", "--function", name, "--endpoint", server.url, "--target", "x86_64"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.url}/archfn/v1/functions/{name}/readiness?target=sparc")
    assert e.value.code == 400


def test_sarif_output(tmp_path):
    x86 = tmp_path / "x86.zip"
    x86.write_bytes(build_c_runtime("x86_64"))
    out = scan(x86, "--target", "arm64", "--format", "sarif")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["archfn/elf"]
    assert results[0]["level"] == "error"
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bootstrap"
    assert "cargo lambda build --arm64" in results[0]["message"]["text"]


def test_directories_are_scanned_like_archives(tmp_path):
    """An unpacked wheel and an npm platform package in a directory, with a symlink loop."""
    import os

    wheel = numpy_wheel("manylinux2014_aarch64")
    pkg = tmp_path / "pkg"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(pkg)
    esb = pkg / "node_modules" / "@esbuild" / "linux-arm64"
    esb.mkdir(parents=True)
    (esb / "package.json").write_text(json.dumps({"name": "@esbuild/linux-arm64", "version": "0.25.0", "os": ["linux"], "cpu": ["arm64"]}))
    os.symlink("..", pkg / "node_modules" / "loop")
    out = scan(pkg, "--target", "x86_64", "--format", "json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    components = {f["component"] for f in report["findings"] if f["severity"] == "incompatible"}
    assert components == {"numpy 2.2.6", "@esbuild/linux-arm64 0.25.0"}
    npm = [f for f in report["findings"] if f["kind"] == "npm_package"][0]
    assert npm["advice"].startswith("install @esbuild/linux-x64 instead")
    assert scan(pkg, "--target", "arm64").returncode == 0
