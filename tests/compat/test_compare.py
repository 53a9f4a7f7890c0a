"""`archfn compare`: a function's configurations run side by side on both architectures. A
Python function with numpy (x86_64 wheels) is compared with its arm64 build, which the
comparison makes with `archfn migrate` from PyPI's aarch64 wheel; answers are checked for
equivalence, an arm64 build that answers differently (or fails) is reported as a difference,
and the HTML report renders in headless Chromium with its charts."""

import io
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from artifacts import install_wheels, wheels
from conftest import ROLE, Server, archfn_bin, make_zip, unique, wait_updated

NUMPY_APP = """
def handler(event, context):
    import numpy as np
    n = int((event or {}).get("n", 4))
    a = np.arange(n * n, dtype=np.float64).reshape(n, n)
    return {"numpy": np.__version__, "sum": float(a.sum()), "trace": float((a @ a.T).trace()),
            "std": float(np.linspace(0.0, 1.0, 7).std())}
"""

DRIFT_APP = """
import platform

def handler(event, context):
    # A build whose arithmetic differs by architecture, as a miscompiled extension's would.
    return {"result": [1, 2, 3.14159 if platform.machine() == "x86_64" else 3.2], "ok": True}
"""


@pytest.fixture(scope="module")
def srv(runtimes, tmp_path_factory):
    d = tmp_path_factory.mktemp("archfn-compare")
    s = Server(d / "data", ["--python", sys.executable]).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def numpy_zip(tmp_path_factory):
    d = tmp_path_factory.mktemp("numpy-pkg")
    pkg = install_wheels(wheels("numpy==2.2.6", platform="manylinux2014_x86_64"), d / "pkg")
    (pkg / "app.py").write_text(NUMPY_APP)
    out = d / "x86_64.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(p for p in pkg.rglob("*") if p.is_file()):
            z.write(f, f.relative_to(pkg).as_posix())
    return out.read_bytes()


def with_app(zip_bytes, app):
    """`zip_bytes` with its app.py replaced by `app`."""
    src, buf = zipfile.ZipFile(io.BytesIO(zip_bytes)), io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, app if info.filename == "app.py" else src.read(info.filename))
    return buf.getvalue()


def function(lam, zip_bytes, arch="x86_64", memory=512):
    name = unique("cmp")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zip_bytes}, Architectures=[arch], Timeout=120, MemorySize=memory)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return name


def compare(server, *args, timeout=900):
    return subprocess.run([archfn_bin(), "compare", *map(str, args), "--endpoint", server.url],
                          capture_output=True, text=True, timeout=timeout)


def api(server, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def test_numpy_function_compared_on_both_architectures_with_a_migrated_arm64_build(srv, numpy_zip, tmp_path):
    lam = srv.client()
    name = function(lam, numpy_zip)
    before = lam.get_function(FunctionName=name)["Configuration"]
    (tmp_path / "small.json").write_text('{"n": 3}')
    (tmp_path / "large.json").write_text('{"n": 40}')
    out = tmp_path / "report.json"
    r = compare(srv, name, "--memory", "512,1024", "-n", "3", "--cold", "1", "--payload", tmp_path / "small.json",
                "--payload", tmp_path / "large.json", "--strategy", "cost", "--format", "json", "-o", out)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(out.read_text())
    assert report["schema_version"] == 1 and report["function"] == name
    configs = {c["label"]: c for c in report["configurations"]}
    assert set(configs) == {"x86_64/512", "x86_64/1024", "arm64/512", "arm64/1024"}
    arm = configs["arm64/512"]
    assert arm["execution"] == "emulated" and configs["x86_64/512"]["execution"] == "native"
    # The arm64 package was rebuilt from PyPI's aarch64 wheel, and the report says so.
    assert "rebuilt for arm64 by archfn migrate" in arm["package"] and "numpy" in arm["package"], arm["package"]
    # Each configuration: 3 warm invocations of each payload, one cold start.
    for c in configs.values():
        assert c["warm"]["count"] == 6 and c["cold"]["count"] == 1, c
        assert c["error_count"] == 0 and c["max_memory_used_mb"] > 0
        assert c["cost"]["per_million_usd"] > 0.2
    # The same answers on both architectures, numbers and all.
    assert report["equivalence"]["equivalent"] is True, report["equivalence"]
    # Honest about emulation: no speed verdict between native x86_64 and emulated arm64.
    assert report["execution"]["executions_differ"] is True
    assert report["recommendations"]["speed_verdict"].startswith("not judged"), report["recommendations"]
    assert report["recommendations"]["chosen"] == "cost" and report["recommended"] in configs
    # Published versions, one per configuration; $LATEST untouched.
    versions = [v for v in lam.list_versions_by_function(FunctionName=name)["Versions"] if v["Version"] != "$LATEST"]
    assert sorted((v["Architectures"][0], v["MemorySize"]) for v in versions) == [
        ("arm64", 512), ("arm64", 1024), ("x86_64", 512), ("x86_64", 1024)]
    assert all(v["Description"].startswith("archfn compare") for v in versions)
    after = lam.get_function(FunctionName=name)["Configuration"]
    assert (after["CodeSha256"], after["Architectures"], after["MemorySize"]) == (
        before["CodeSha256"], before["Architectures"], before["MemorySize"])
    # The arm64 version answers from aarch64 numpy.
    arm_version = next(v["Version"] for v in versions if v["Architectures"] == ["arm64"])
    got = json.loads(lam.invoke(FunctionName=name, Qualifier=arm_version, Payload=b'{"n": 3}')["Payload"].read())
    assert got["numpy"] == "2.2.6" and got["sum"] == 36.0


def test_an_arm64_build_that_answers_differently_or_fails_is_a_difference(srv, numpy_zip, tmp_path):
    lam = srv.client()
    # Versions 1 (x86_64) and 2 (arm64) of a function whose answer drifts by architecture.
    name = function(lam, make_zip({"app.py": DRIFT_APP}))
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": DRIFT_APP + "\n#\n"}), Architectures=["arm64"])
    wait_updated(lam, name)
    lam.publish_version(FunctionName=name)
    r = compare(srv, name, "--versions", "1,2", "-n", "2", "--cold", "0")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "answered differently" in r.stdout and "$.result[2]" in r.stdout, r.stdout

    # The classic mistake: the x86_64 package deployed as arm64 unchanged (numpy imported when
    # the module loads, as most handlers do).
    package = with_app(numpy_zip, "import numpy as np\n\ndef handler(event, context):\n    return {'sum': float(np.arange(4).sum())}\n")
    name = function(lam, package)
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=package, Architectures=["arm64"])
    wait_updated(lam, name)
    lam.publish_version(FunctionName=name)
    out = tmp_path / "mistake.json"
    r = compare(srv, name, "--versions", "1,2", "-n", "1", "--cold", "0", "--format", "json", "-o", out)
    assert r.returncode == 1, r.stdout + r.stderr
    report = json.loads(out.read_text())
    texts = [f["text"] for f in report["equivalence"]["findings"]]
    assert any("answered Runtime.ImportModuleError where" in t and "answered 200" in t for t in texts), texts
    # A configuration that fails is never the recommendation.
    assert report["recommended"].startswith("v1 "), report["recommended"]


def test_the_html_report_renders_with_its_charts_in_headless_chromium(srv, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("chromium is not installed (scripts/setup.sh --test installs it)")
    lam = srv.client()
    name = function(lam, make_zip({"app.py": "def handler(e, c):\n    return {'<script>alert(1)</script>': 1}\n"}))
    status, body, _ = api(srv, "POST", f"/archfn/v1/functions/{name}/comparisons",
                          {"memory": [128, 256], "invocations": 2, "cold": 1})
    assert status == 202, body
    job = json.loads(body)
    deadline = time.time() + 600
    while job["status"] == "Running" and time.time() < deadline:
        time.sleep(0.5)
        job = json.loads(api(srv, "GET", f"/archfn/v1/comparisons/{job['id']}")[1])
    assert job["status"] == "Succeeded", job
    assert job["done"] == job["total"] and job["timing"]["invokingMs"] <= job["timing"]["measuringMs"]
    status, html, headers = api(srv, "GET", f"/archfn/v1/comparisons/{job['id']}/report?format=html")
    assert status == 200 and headers["content-type"].startswith("text/html")
    html = html.decode()
    assert "http" not in html and "<script" not in html
    # A probe counts what the browser laid out: every bar and point with a real size.
    probe = """<script>
      const size = el => { const b = el.getBBox(); return b.width > 0 && b.height > 0; };
      const bars = [...document.querySelectorAll('#latency-chart .bar')];
      const points = [...document.querySelectorAll('#cost-chart .point')];
      document.title = JSON.stringify({bars: bars.length, barsDrawn: bars.filter(size).length,
        points: points.length, pointsDrawn: points.filter(size).length});
    </script>"""
    page = tmp_path / "report.html"
    page.write_text(html.replace("</body>", probe + "</body>"))
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr
    title = dom.stdout.split("<title>", 1)[1].split("</title>", 1)[0].replace("&quot;", '"')
    seen = json.loads(title)
    # Four configurations (two architectures × two memory sizes): p50/p90/p99 bars each, one point each.
    assert seen == {"bars": 12, "barsDrawn": 12, "points": 4, "pointsDrawn": 4}, seen
    status, text, _ = api(srv, "GET", f"/archfn/v1/comparisons/{job['id']}/report?format=text")
    assert status == 200 and b"emulated" in text


def test_bad_comparisons_get_clear_errors(srv):
    lam = srv.client()
    name = function(lam, make_zip({"app.py": DRIFT_APP}))

    def start(body, fn=name):
        status, raw, headers = api(srv, "POST", f"/archfn/v1/functions/{fn}/comparisons", body)
        return status, headers.get("x-amzn-ErrorType", "").split(":")[0], json.loads(raw or b"null")

    assert start({"architectures": ["sparc"]})[:2] == (400, "InvalidParameterValueException")
    assert start({"memory": [64]})[:2] == (400, "InvalidParameterValueException")
    assert start({"versions": ["1"]})[:2] == (400, "InvalidParameterValueException")
    assert start({"concurrency": 100})[:2] == (400, "InvalidParameterValueException")
    assert start({"bogus": 1})[:2] == (400, "InvalidRequestContentException")
    assert start({}, fn="no-such-function")[:2] == (404, "ResourceNotFoundException")
    status, _, _ = api(srv, "GET", "/archfn/v1/comparisons/nope")
    assert status == 404
    # Versions that do not exist: the comparison starts, then fails saying why.
    status, kind, job = start({"versions": ["1", "9"]})
    assert status == 202, job
    deadline = time.time() + 60
    while job["status"] == "Running" and time.time() < deadline:
        time.sleep(0.2)
        job = json.loads(api(srv, "GET", f"/archfn/v1/comparisons/{job['id']}")[1])
    assert job["status"] == "Failed" and "Function not found" in job["error"], job
    status, _, headers = api(srv, "GET", f"/archfn/v1/comparisons/{job['id']}/report")
    assert status == 409
