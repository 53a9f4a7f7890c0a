"""Invocation metrics that last: per version, architecture and alias, native or emulated, kept in
the store across a restart, and printed by `archfn metrics`."""

import json
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import Server, archfn_bin, make_zip, unique, wait_updated

PY = """
def handler(event, context):
    if (event or {}).get("action") == "raise":
        raise ValueError("asked to fail")
    return {"ok": True}
"""


@pytest.fixture(scope="module")
def srv(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-metrics-") as d:
        s = Server(Path(d) / "data").start()
        yield s
        s.stop()


def get_metrics(server, name, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{server.url}/archfn/v1/functions/{name}/metrics?{query}") as r:
        assert r.status == 200
        return json.loads(r.read())


def groups(server, name, by):
    return {g[by]: g for g in get_metrics(server, name, by=by, since="1h")["groups"]}


def invoke(lam, name, event=None, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kw)
    return r, json.loads(r["Payload"].read() or b"null")


@pytest.fixture(scope="module")
def deployed(srv):
    """Version 1 on x86_64, version 2 on arm64 behind the alias `live`: three x86_64
    invocations of $LATEST-then-version-1 ... then, through the alias, two arm64 ones, one of
    them failing."""
    lam = srv.client()
    name = unique("metrics")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::123456789012:role/r",
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": PY})},
                        Architectures=["x86_64"], Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": PY + "\n# arm\n"}), Architectures=["arm64"])
    wait_updated(lam, name)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    for _ in range(3):
        r, body = invoke(lam, name, Qualifier="1")
        assert body == {"ok": True}
    r, body = invoke(lam, name, Qualifier="live")
    assert body == {"ok": True} and r["ResponseMetadata"]["HTTPHeaders"]["x-archfn-execution"] == "emulated"
    r, body = invoke(lam, name, {"action": "raise"}, Qualifier="live")
    assert r["FunctionError"] == "Unhandled" and body["errorType"] == "ValueError"
    return name


def check_numbers(srv, name):
    by_version = groups(srv, name, "version")
    assert set(by_version) == {"1", "2"}
    v1, v2 = by_version["1"], by_version["2"]
    assert (v1["invocations"], v1["errors"], v1["coldStarts"], v1["throttles"]) == (3, 0, 1, 0)
    assert v1["execution"] == "native" and v1["architectures"] == ["x86_64"]
    assert (v2["invocations"], v2["errors"], v2["coldStarts"]) == (2, 1, 1)
    assert v2["errorsByType"] == {"ValueError": 1}
    assert v2["execution"] == "emulated" and v2["architectures"] == ["arm64"]
    assert v2["errorRate"] == 0.5
    for g in (v1, v2):
        d = g["durationMs"]
        assert d["count"] == g["invocations"]
        assert 0 < d["p50"] <= d["p90"] <= d["p99"] <= d["max"]
        assert g["initDurationMs"]["count"] == 1 and g["initDurationMs"]["p50"] > 0
        assert g["billedDurationMs"] >= d["max"] and g["maxMemoryUsedMB"] > 0
    by_arch = groups(srv, name, "architecture")
    assert set(by_arch) == {"x86_64", "arm64"}
    assert by_arch["x86_64"]["invocations"] == 3 and by_arch["x86_64"]["execution"] == "native"
    assert by_arch["arm64"]["invocations"] == 2 and by_arch["arm64"]["execution"] == "emulated"
    by_alias = groups(srv, name, "alias")
    assert set(by_alias) == {None, "live"}
    assert by_alias["live"]["invocations"] == 2 and by_alias["live"]["versions"] == ["2"]
    assert by_alias[None]["invocations"] == 3


def test_groups_by_version_architecture_and_alias(srv, deployed):
    check_numbers(srv, deployed)


def test_a_window_before_the_invocations_is_empty(srv, deployed):
    assert get_metrics(srv, deployed, since="2020-01-01T00:00:00Z", until="2020-01-02T00:00:00Z")["groups"] == []


def test_unknown_function_and_bad_parameters(srv):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{srv.url}/archfn/v1/functions/no-such-function/metrics")
    assert e.value.code == 404
    assert e.value.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert "Function not found" in json.loads(e.value.read())["message"]
    for bad in ("by=colour", "since=yesterday"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{srv.url}/archfn/v1/functions/no-such-function/metrics?{bad}")
        assert e.value.code == 400


def test_prometheus_series_carry_the_version(srv, deployed):
    text = urllib.request.urlopen(srv.url + "/metrics").read().decode()
    lines = [l for l in text.splitlines() if l.startswith("archfn_invocations_total{") and f'function="{deployed}"' in l]
    assert any('version="2",arch="arm64",execution="emulated"' in l for l in lines), lines
    assert any('version="1",arch="x86_64",execution="native"' in l for l in lines), lines


def test_numbers_survive_a_restart_and_the_cli_prints_them(srv, deployed):
    srv.stop()
    srv.start()
    check_numbers(srv, deployed)
    out = subprocess.run([archfn_bin(), "metrics", deployed, "--by", "version", "--since", "1h", "--endpoint", srv.url],
                         check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    assert lines[1].startswith("VERSION")
    row1 = next(l for l in lines if l.startswith("1 "))
    row2 = next(l for l in lines if l.startswith("2 "))
    assert "native" in row1 and row1.split()[2] == "3"
    assert "emulated" in row2 and row2.split()[2:4] == ["2", "1"]
    assert "errors: ValueError=1" in out
    as_json = subprocess.run([archfn_bin(), "metrics", deployed, "--by", "architecture", "--format", "json",
                              "--endpoint", srv.url], check=True, capture_output=True, text=True).stdout
    arch = {g["architecture"]: g for g in json.loads(as_json)["groups"]}
    assert arch["arm64"]["execution"] == "emulated" and arch["arm64"]["invocations"] == 2
