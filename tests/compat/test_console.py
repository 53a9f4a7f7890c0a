"""The web console (issue 17, first pages): the functions list with architecture badges, arm64
readiness from the same scan as the API's and filters, a function's page, HTML escaping of what
functions hold, the open-server warning, and where the console is not served (on a function URL's host), and the sign-in under `--auth
sigv4`."""

import html
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from artifacts import libz
from conftest import ROLE, Server, make_zip, unique


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="archfn-console-") as d:
        s = Server(Path(d) / "data").start()
        yield s
        s.stop()


@pytest.fixture(scope="module")
def lam(server):
    return server.client()


def get(server, path, host=None):
    req = urllib.request.Request(server.url + path, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def create(lam, arch, files, description="", runtime="python3.12"):
    name = unique(f"console-{arch}")
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": make_zip(files)}, Architectures=[arch], Description=description)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return name


def row_of(page: str, name: str) -> str:
    rows = re.findall(r"<tr>.*?</tr>", page, flags=re.S)
    found = [r for r in rows if f">{name}</a>" in r]
    assert len(found) == 1, page
    return found[0]


def wait_for_verdicts(server, names, timeout=60):
    deadline = time.time() + timeout
    while True:
        _, _, page = get(server, "/console/")
        if all("scanning" not in row_of(page, n) for n in names) or time.time() > deadline:
            return page
        time.sleep(0.2)


APP = {"app.py": "def handler(event, context):\n    return 'ok'\n"}


def test_the_list_shows_architecture_and_readiness_and_filters(server, lam):
    pure = create(lam, "x86_64", APP)
    native = create(lam, "x86_64", {**APP, "lib/libz.so.1": libz("amd64")})
    already = create(lam, "arm64", APP)
    status, headers, page = get(server, "/console/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "anyone who can reach it can see and change everything" in page
    assert 'class="badge arm64"' in row_of(page, already) and "runs on arm64" in row_of(page, already)
    assert 'class="badge x86_64"' in row_of(page, pure)
    page = wait_for_verdicts(server, [pure, native])
    assert ">ready<" in row_of(page, pure)
    assert "not ready (1 incompatible)" in row_of(page, native)
    _, _, arm_only = get(server, "/console/?arch=arm64")
    assert already in arm_only and pure not in arm_only and native not in arm_only
    _, _, not_ready = get(server, "/console/?readiness=not-ready")
    assert native in not_ready and pure not in not_ready and already not in not_ready
    status, _, _ = get(server, "/console/?arch=sparc")
    assert status == 400


def test_a_function_page_shows_configuration_versions_and_aliases(server, lam):
    name = create(lam, "arm64", APP, description="<script>alert(1)</script>")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    status, _, page = get(server, f"/console/functions/{name}")
    assert status == 200
    assert f"arn:aws:lambda:us-east-1:000000000000:function:{name}" in page
    assert "python3.12" in page and 'class="badge arm64"' in page
    assert ">live<" in page and "1: 100%" in page
    assert "No invocations in the last hour." in page
    # What a function holds is text on the page, never markup.
    assert "<script>alert(1)</script>" not in page
    assert html.escape("<script>alert(1)</script>", quote=False) in page
    status, _, page = get(server, "/console/functions/no-such-function")
    assert status == 404 and "Function not found" in page


def test_a_function_url_host_keeps_its_console_path(server, lam):
    name = create(lam, "x86_64", APP)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    host = url.split("//", 1)[1].rstrip("/")
    status, _, body = get(server, "/console/", host=host)
    # The URL's policy grants nothing yet: the URL front end answers, not the console.
    assert status == 403 and "<html" not in body


def raw(server, method, path, body=None, cookie=None):
    """One request, redirects not followed: (status, headers, body)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode())
    c.close()
    return out


def test_under_sigv4_every_page_needs_a_session_from_a_key_of_the_credentials_file(tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = good-secret\n")
    s = Server(tmp_path / "data", ["--auth", "sigv4", "--credentials-file", str(creds)]).start()
    try:
        status, headers, body = raw(s, "GET", "/console/functions/x?region=us-east-1")
        assert status == 303 and headers["location"].startswith("/console/login?next=")
        assert "Functions" not in body
        status, _, _ = raw(s, "POST", "/console/shifts", body="function=f")
        assert status == 403
        # A forged session: right shape, wrong MAC; and a key the server does not know.
        for forged in ("archfn_console=414b4944474f4f44.99999999999999.00",
                       "archfn_console=414b4944455649.99999999999999." + "0" * 64):
            status, _, _ = raw(s, "GET", "/console/", cookie=forged)
            assert status == 303
        status, _, page = raw(s, "GET", "/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"csrf": token, "key": "AKIDGOOD", "secret": "bad"})
        status, headers, _ = raw(s, "POST", "/console/login", body=form)
        assert status == 401 and "set-cookie" not in headers
        form = urllib.parse.urlencode({"csrf": "1.forged", "key": "AKIDGOOD", "secret": "good-secret"})
        status, headers, _ = raw(s, "POST", "/console/login", body=form)
        assert status == 403 and "set-cookie" not in headers
        form = urllib.parse.urlencode({"csrf": token, "key": "AKIDGOOD", "secret": "good-secret"})
        status, headers, _ = raw(s, "POST", "/console/login?next=%2F%2Fevil.example%2F", body=form)
        assert status == 303 and headers["location"] == "/console/"
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
        session = cookie.split(";")[0]
        status, _, body = raw(s, "GET", "/console/", cookie=session)
        assert status == 200 and "without authentication" not in body and "Sign out" in body
        # A session is no key for the API.
        status, _, _ = raw(s, "GET", "/2015-03-31/functions/", cookie=session)
        assert status == 403
    finally:
        s.stop()


def post(server, path, fields, origin=None):
    data = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if origin:
        headers["Origin"] = origin
    req = urllib.request.Request(server.url + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


MACHINE = {"app.py": "import platform\ndef handler(event, context):\n    print('machine', platform.machine())\n"
                     "    return {'machine': platform.machine(), 'got': event}\n"}


def test_a_test_invoke_shows_the_answer_the_mode_and_the_log(server, lam, runtimes):
    name = create(lam, "arm64", MACHINE, runtime="python3.11")
    _, _, page = get(server, f"/console/functions/{name}")
    token = html.unescape(re.search(r'name="csrf" value="([^"]+)"', page).group(1))
    status, result = post(server, f"/console/functions/{name}/invoke", {"csrf": token, "payload": '{"k": 1}'},
                          origin=server.url)
    assert status == 200, result
    assert "succeeded" in result and 'class="badge emulated"' in result
    assert html.escape('{"machine": "aarch64", "got": {"k": 1}}') in result
    assert "machine aarch64" in result and "REPORT RequestId:" in result and "Execution: emulated" in result
    # The page's charts now have the invocation, labelled with its version, ISA and execution.
    _, _, page = get(server, f"/console/functions/{name}")
    assert 'class="series emulated"' in page and "$LATEST · arm64 · emulated" in page
    # Invalid JSON is refused as Invoke refuses it, and nothing runs.
    status, result = post(server, f"/console/functions/{name}/invoke", {"csrf": token, "payload": "{not json"})
    assert status == 400 and "InvalidRequestContentException" in result
    # A form without a valid token, or from another site, changes nothing.
    assert post(server, f"/console/functions/{name}/invoke", {"payload": "{}"})[0] == 403
    assert post(server, f"/console/functions/{name}/invoke", {"csrf": "1.00", "payload": "{}"})[0] == 403
    assert post(server, f"/console/functions/{name}/invoke", {"csrf": token, "payload": "{}"},
                origin="https://evil.example")[0] == 403


def csrf_of(page: str) -> str:
    return html.unescape(re.search(r'name="csrf" value="([^"]+)"', page).group(1))


def test_the_architecture_switch_shows_the_scan_first_then_switches(server, lam, runtimes):
    name = create(lam, "x86_64", {**MACHINE, "lib/libz.so.1": libz("amd64")}, runtime="python3.11")
    _, _, page = get(server, f"/console/functions/{name}")
    assert f"/console/functions/{name}/architecture?to=arm64" in html.unescape(page)
    status, _, review = get(server, f"/console/functions/{name}/architecture?to=arm64")
    assert status == 200
    # The findings and their advice come before any change.
    assert "lib/libz.so.1" in review and "will not run" in review and "Switch to arm64 anyway" in review
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["x86_64"]
    revision = re.search(r'name="revision" value="([^"]+)"', review).group(1)
    # A form without its token changes nothing.
    assert post(server, f"/console/functions/{name}/architecture", {"to": "arm64", "revision": revision})[0] == 403
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["x86_64"]
    status, _ = post(server, f"/console/functions/{name}/architecture",
                     {"csrf": csrf_of(review), "to": "arm64", "revision": revision})
    assert status == 200  # after the redirect to the function's page
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    after = lam.get_function_configuration(FunctionName=name)
    assert after["Architectures"] == ["arm64"]
    # The same package: the switch does not touch the code.
    assert after["CodeSha256"] == lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    assert '"machine": "aarch64"' in r["Payload"].read().decode()
    # A switch from a scan of an older revision is refused, as UpdateFunctionCode refuses it.
    status, result = post(server, f"/console/functions/{name}/architecture",
                          {"csrf": csrf_of(review), "to": "x86_64", "revision": revision})
    assert status == 412 and "PreconditionFailedException" in result
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["arm64"]


def test_an_alias_weight_is_set_with_the_slider_and_checked_as_the_api_checks_it(server, lam):
    name = create(lam, "x86_64", APP)
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="second")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    _, _, page = get(server, f"/console/functions/{name}")
    assert 'type="range" name="weight"' in page
    form = re.search(r'<form class="weights".*?</form>', page, flags=re.S).group(0)
    revision = re.search(r'name="revision" value="([^"]+)"', form).group(1)
    path = f"/console/functions/{name}/aliases/live"
    status, _ = post(server, path, {"csrf": csrf_of(page), "revision": revision, "version": "2", "weight": "30"})
    assert status == 200
    alias = lam.get_alias(FunctionName=name, Name="live")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.3}
    _, _, page = get(server, f"/console/functions/{name}")
    assert "1: 70%, 2: 30%" in page
    # Over 100%: the API's own error, and the alias is as it was.
    form = re.search(r'<form class="weights".*?</form>', page, flags=re.S).group(0)
    revision = re.search(r'name="revision" value="([^"]+)"', form).group(1)
    status, result = post(server, path, {"csrf": csrf_of(page), "revision": revision, "version": "2", "weight": "150"})
    assert status == 400 and "ValidationException" in result and "less than or equal to 1.0" in result
    assert lam.get_alias(FunctionName=name, Name="live")["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.3}
    assert post(server, path, {"revision": revision, "version": "2", "weight": "50"})[0] == 403
    # Zero takes the routing away.
    status, _ = post(server, path, {"csrf": csrf_of(page), "revision": revision, "version": "2", "weight": "0"})
    assert status == 200 and "RoutingConfig" not in lam.get_alias(FunctionName=name, Name="live")
