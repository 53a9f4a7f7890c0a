"""The console in a real browser: Playwright (tests/console, from the npm registry) driving Debian's
chromium headless against a real `archfn serve`. Functions are created through the API with boto3;
the browser lists them, switches one to arm64 after the scan, runs a test invoke that answers
`aarch64` and `emulated`, sets an alias weight with the slider, uploads code, starts a traffic shift
and watches it roll back; bad input in forms shows the API's error and changes nothing; under
`--auth sigv4` the console asks for a key first. With ARCHFN_SCREENSHOTS=docs/console the pages are
photographed for the README."""

import io
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, ROLE, Server, make_zip, wait_updated

E2E = REPO / "tests" / "console"

pytestmark = pytest.mark.skipif(
    not (E2E / "node_modules" / "playwright-core").exists() or not shutil.which("chromium"),
    reason="playwright-core (npm ci in tests/console) and chromium are installed by scripts/setup.sh --test",
)

CODE = """import platform
def handler(event, context):
    print("console test on", platform.machine())
    return {"machine": platform.machine(), "event": event}
"""

FAILING = """def handler(event, context):
    raise RuntimeError("this version is broken")
"""


def browser(phase: str, url: str, **args) -> dict:
    env = dict(os.environ)
    shots = os.environ.get("ARCHFN_SCREENSHOTS")
    if shots:
        env["ARCHFN_SCREENSHOTS"] = str((REPO / shots).resolve())
        Path(env["ARCHFN_SCREENSHOTS"]).mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["node", str(E2E / "e2e.mjs"), phase, url, json.dumps(args)], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == 0, f"browser phase {phase} failed:\n{p.stderr[-4000:]}"
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def server(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-console-") as d:
        s = Server(Path(d) / "data").start()
        yield s
        s.stop()


def test_switch_invoke_weights_upload_and_a_shift_that_rolls_back(server, tmp_path):
    lam = server.client()
    name = "console-e2e"
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
                        Code={"ZipFile": make_zip({"lambda_function.py": CODE})}, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.publish_layer_version(LayerName="console-layer", Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})},
                              CompatibleArchitectures=["arm64"], CompatibleRuntimes=["python3.11"])

    seen = browser("switch", server.url, function=name)
    assert seen["listedArch"] == "x86_64"
    assert "scanned for arm64" in seen["review"]
    assert "Nothing found that will not run on arm64" in seen["review"]
    assert seen["switchedArch"] == "arm64"
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["arm64"]
    assert '"machine": "aarch64"' in seen["invoke"]
    assert "emulated" in seen["invoke"]
    assert "REPORT RequestId" in seen["invoke"]
    assert "console test on aarch64" in seen["invoke"]
    assert "InvalidRequestContentException" in seen["badPayload"]

    wait_updated(lam, name)
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1)

    seen = browser("weights", server.url, function=name, alias="live", version=v2, percent=30)
    assert seen["shown"] == "30%"
    assert f"{v2}: 30%" in seen["after"]
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {v2: 0.3}
    assert "ValidationException" in seen["tooMuch"] or "InvalidParameterValueException" in seen["tooMuch"]
    assert lam.get_alias(FunctionName=name, Name="live")["RoutingConfig"]["AdditionalVersionWeights"] == {v2: 0.3}
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion=v1, RoutingConfig={"AdditionalVersionWeights": {}})

    good = tmp_path / "new.zip"
    good.write_bytes(make_zip({"lambda_function.py": CODE.replace("console test on", "uploaded code on")}))
    big = tmp_path / "big.zip"
    with zipfile.ZipFile(big, "w", zipfile.ZIP_STORED) as z:
        z.writestr("lambda_function.py", CODE)
        z.writestr("padding.bin", os.urandom(51 * 1024 * 1024))
    sha_before = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
    seen = browser("upload", server.url, function=name, zip=str(good), bigZip=str(big))
    wait_updated(lam, name)
    sha_after = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
    assert sha_after != sha_before
    assert "RequestEntityTooLargeException" in seen["tooBig"]
    assert "52428800" in seen["tooBig"]
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == sha_after
    out = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert json.loads(out["Payload"].read())["machine"] == "aarch64"

    # A broken version: traffic through the alias during the shift fails, and it rolls back.
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"lambda_function.py": FAILING}))
    wait_updated(lam, name)
    v3 = lam.publish_version(FunctionName=name)["Version"]
    stop = threading.Event()

    def traffic():
        client = server.client()
        while not stop.is_set():
            try:
                client.invoke(FunctionName=name, Qualifier="live", Payload=b"{}")
            except Exception:  # noqa: BLE001 - throttles while the emulated version starts
                pass
            time.sleep(0.05)

    t = threading.Thread(target=traffic)
    t.start()
    try:
        seen = browser("shift", server.url, function=name, alias="live", version=v3, steps="50,100@60s")
    finally:
        stop.set()
        t.join()
    assert "RolledBack" in seen["ended"], seen["ended"]
    assert "Roll back" not in seen["ended"].split("Status")[0]
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["FunctionVersion"] == v1
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")

    seen = browser("pages", server.url)
    assert "console-layer" in seen["layers"] and "arm64" in seen["layers"]
    assert "No image yet" in seen["images"]
    assert seen["shifts"].count("RolledBack") >= 1


def test_sign_in_under_auth_sigv4(runtimes, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDCONSOLE\naws_secret_access_key = console-secret\n")
    s = Server(tmp_path / "data", ["--auth", "sigv4", "--credentials-file", str(creds)]).start()
    try:
        seen = browser("login", s.url, key="AKIDCONSOLE", secret="console-secret")
    finally:
        s.stop()
    assert "/console/login" in seen["redirected"]
    assert "not one this server accepts" in seen["refused"]
    assert "Functions" in seen["signedIn"]
    assert "without authentication" not in seen["signedIn"]
    cookie = next(c for c in seen["cookies"] if c["name"] == "archfn_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
