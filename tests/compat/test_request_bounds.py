"""API requests as an attacker sends them: a signed request replayed with another body, unsigned
payloads, scopes that are not Lambda's or name no region, bodies over an operation's limit, slow
headers and floods of bad signatures. All traffic goes to 127.0.0.1 only."""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import Server, archfn_bin, create, make_zip

KEY, SECRET = "AKIDBOUNDS", "bounds-secret"
MISMATCH = ("The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")


@pytest.fixture(scope="module")
def srv():
    with tempfile.TemporaryDirectory(prefix="archfn-bounds-") as d:
        creds = Path(d) / "credentials"
        creds.write_text(f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n")
        s = Server(Path(d) / "data", ["--auth", "sigv4", "--credentials-file", str(creds),
                                      "--header-timeout", "3"]).start()
        yield s
        s.stop()


@pytest.fixture(scope="module")
def lam(srv):
    return srv.client(key=KEY, secret=SECRET)


def botocore_sign(srv, method, path, body=b"", headers=None, service="lambda", region="us-east-1",
                  host=None):
    """Headers botocore's SigV4Auth signs for the request (for `host`, a Host other than the
    server's own)."""
    url = f"http://{host}{path}" if host else srv.url + path
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(KEY, SECRET), service, region).add_auth(req)
    out = dict(req.headers.items())
    if host:
        out["Host"] = host
    return out


def own_sign(method, path, body, headers, signed, region="us-east-1", service="lambda"):
    """A SigV4 signature over exactly the headers named in `signed` (botocore always signs host)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = dict(headers, **{"X-Amz-Date": amz_date})
    lower = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(f"{h}:{lower[h].strip()}\n" for h in signed)
    canonical = "\n".join([method, path, "", canonical_headers, ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + SECRET).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={KEY}/{scope}, "
                                f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    return headers


def send(srv, method, path, headers, body=b""):
    """Sends exactly these headers and body; returns (status, error type, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host="Host" in headers or "host" in headers,
                        skip_accept_encoding=True)
        for k, v in headers.items():
            if k.lower() != "content-length":
                conn.putheader(k, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        is_json = "json" in (r.getheader("content-type") or "")
        return r.status, r.getheader("x-amzn-ErrorType"), (json.loads(data) if data and is_json else data)
    finally:
        conn.close()


def code_body(zip_bytes):
    return json.dumps({"ZipFile": base64.b64encode(zip_bytes).decode()}).encode()


def test_a_signed_update_replayed_with_another_zip_is_refused(srv, lam):
    name, _ = create(lam)
    path = f"/2015-03-31/functions/{name}/code"
    good = code_body(make_zip({"lambda_function.py": "def handler(e, c):\n    return 'good'\n"}))
    evil = code_body(make_zip({"lambda_function.py": "def handler(e, c):\n    return 'evil'\n"}))
    headers = botocore_sign(srv, "PUT", path, good)
    status, kind, body = send(srv, "PUT", path, headers, evil)
    assert (status, kind, body["message"]) == (403, "InvalidSignatureException", MISMATCH)
    # The function still has its first code, and the signed request itself is accepted.
    before = lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    status, kind, body = send(srv, "PUT", path, headers, good)
    assert status == 200, body
    assert body["CodeSha256"] != before
    good_sha = base64.b64encode(hashlib.sha256(base64.b64decode(json.loads(good)["ZipFile"])).digest()).decode()
    assert body["CodeSha256"] == good_sha


def test_a_declared_payload_hash_must_be_the_bodys(srv, lam):
    name, _ = create(lam)
    path = f"/2015-03-31/functions/{name}/configuration"
    good = json.dumps({"Description": "signed"}).encode()
    evil = json.dumps({"Description": "evil!!"}).encode()
    headers = botocore_sign(srv, "PUT", path, good,
                            {"X-Amz-Content-SHA256": hashlib.sha256(good).hexdigest()})
    status, kind, body = send(srv, "PUT", path, headers, evil)
    assert (status, kind) == (400, "XAmzContentSHA256Mismatch")
    assert body["message"] == "The provided 'x-amz-content-sha256' header does not match what was computed."
    assert lam.get_function_configuration(FunctionName=name)["Description"] == ""
    status, kind, body = send(srv, "PUT", path, headers, good)
    assert (status, body["Description"]) == (200, "signed")


def test_unsigned_payload_is_refused(srv, lam):
    name, _ = create(lam)
    path = f"/2015-03-31/functions/{name}/configuration"
    body = json.dumps({"Description": "unsigned"}).encode()
    headers = botocore_sign(srv, "PUT", path, body, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert "UNSIGNED-PAYLOAD" in headers["Authorization"] or headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    status, kind, resp = send(srv, "PUT", path, headers, body)
    assert (status, kind, resp["message"]) == (403, "InvalidSignatureException", MISMATCH)
    assert lam.get_function_configuration(FunctionName=name)["Description"] == ""


def test_host_must_be_signed(srv, lam):
    path = "/2015-03-31/functions"
    base = {"Host": f"127.0.0.1:{srv.port}"}
    # Control: the same signer with host signed is accepted.
    assert send(srv, "GET", path, own_sign("GET", path, b"", base, ["host", "x-amz-date"]))[0] == 200
    status, kind, body = send(srv, "GET", path, own_sign("GET", path, b"", base, ["x-amz-date"]))
    assert (status, kind) == (400, "IncompleteSignatureException")
    assert body["message"] == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


def test_the_scope_must_name_lambda(srv):
    # A service archfn does not serve (a request scoped to `s3` is archfn's S3's).
    path = "/2015-03-31/functions"
    status, kind, body = send(srv, "GET", path, botocore_sign(srv, "GET", path, service="dynamodb"))
    assert (status, kind) == (403, "InvalidSignatureException")
    assert body["message"] == "Credential should be scoped to correct service: 'lambda'. "


@pytest.mark.parametrize("region,expected", [
    ("us-east-1/../x", (400, "IncompleteSignatureException")),  # not five elements
    ("../../etc", (400, "IncompleteSignatureException")),
    ("..", (403, "InvalidSignatureException")),
    ("us-east-1..", (403, "InvalidSignatureException")),
])
def test_the_scope_must_name_a_region(srv, region, expected):
    path = "/2015-03-31/functions"
    status, kind, body = send(srv, "GET", path, botocore_sign(srv, "GET", path, region=region))
    print(f"region {region!r}: {status} {kind} {body['message']}")
    assert (status, kind) == expected
    if kind == "InvalidSignatureException":
        assert body["message"] == "Credential should be scoped to a valid region. "
    else:
        assert body["message"].startswith("Credential must have exactly 5 slash-delimited elements")


def test_region_paths_are_refused_without_auth_too(server):
    """With --auth none the scope's region still selects the region, so it must be one."""
    path = "/2015-03-31/functions"
    req = AWSRequest(method="GET", url=server.url + path)
    SigV4Auth(Credentials("any", "thing"), "lambda", "..").add_auth(req)
    status, kind, _ = send(server, "GET", path, dict(req.headers.items()))
    assert (status, kind) == (403, "InvalidSignatureException")


def test_code_location_ignores_the_host_header(srv, lam):
    name, _ = create(lam)
    path = f"/2015-03-31/functions/{name}"
    headers = botocore_sign(srv, "GET", path, host="evil.example:8080")
    status, _, body = send(srv, "GET", path, headers)
    assert status == 200
    assert body["Code"]["Location"].startswith(srv.url + "/archfn/v1/code/")
    with urllib.request.urlopen(body["Code"]["Location"]) as r:
        assert r.status == 200


def test_metrics_need_a_signature(srv):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(srv.url + "/metrics")
    assert e.value.code == 403
    assert e.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    status, _, _ = send(srv, "GET", "/metrics", botocore_sign(srv, "GET", "/metrics"))
    assert status == 200


def test_an_empty_secret_stops_the_server_at_start():
    with tempfile.TemporaryDirectory(prefix="archfn-bounds-") as d:
        creds = Path(d) / "credentials"
        creds.write_text("[default]\naws_access_key_id = AKIDOK\naws_secret_access_key = ok\n\n"
                         "[weak]\naws_access_key_id = AKIDWEAK\naws_secret_access_key =\n")
        p = subprocess.run([archfn_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(Path(d) / "data"),
                            "--auth", "sigv4", "--credentials-file", str(creds)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0
        assert "profile [weak] has an empty aws_secret_access_key" in p.stderr, p.stderr


def raw_request(port, head: bytes, body_parts=(), read_timeout=10):
    """Sends `head`, then each of `body_parts` while the server has not answered; returns the
    response's status line, headers and body, and the number of body bytes sent."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    sent = 0
    try:
        s.sendall(head)
        s.setblocking(False)
        data = b""
        for part in body_parts:
            try:
                chunk = s.recv(65536)
                if chunk:
                    data += chunk
                    break
            except BlockingIOError:
                pass
            try:
                s.setblocking(True)
                s.settimeout(read_timeout)
                s.sendall(part)
                sent += len(part)
            except (BrokenPipeError, ConnectionResetError):
                break
            finally:
                s.setblocking(False)
        s.setblocking(True)
        s.settimeout(read_timeout)
        try:
            while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return data, sent
    finally:
        s.close()


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


def parse_response(data: bytes):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    return status, headers.get("x-amzn-errortype"), json.loads(body) if body else None


def test_a_declared_length_over_the_limit_is_refused_unread(srv, lam):
    name, _ = create(lam)
    path = f"/2015-03-31/functions/{name}/code"
    headers = botocore_sign(srv, "PUT", path, b"{}")
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    head += f"Content-Length: {900 * 1024 * 1024}\r\n\r\n"
    data, sent = raw_request(srv.port, head.encode(), [b"x" * 65536] * 64)
    status, kind, body = parse_response(data)
    print(f"900 MB declared: answered after {sent} body bytes sent")
    assert (status, kind) == (413, "RequestEntityTooLargeException")
    assert body["message"] == "Request must be smaller than 70167211 bytes for the UpdateFunctionCode operation"
    assert sent < 8 * 1024 * 1024


def test_a_chunked_body_over_the_limit_is_refused_while_streaming(srv, lam):
    """No Content-Length: the limit is enforced as the body arrives (6 MB for a synchronous Invoke)."""
    name, _ = create(lam)
    path = f"/2015-03-31/functions/{name}/invocations"
    headers = botocore_sign(srv, "POST", path, b"{}")
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-length")
    head += "Transfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 262144
    part = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    data, sent = raw_request(srv.port, head.encode(), [part] * 200)  # 50 MB offered
    status, kind, body = parse_response(data)
    print(f"chunked invoke body: answered after {sent} bytes sent of {200 * len(part)}")
    assert (status, kind) == (413, "RequestEntityTooLargeException")
    assert body["message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    assert sent < 20 * 1024 * 1024


def vmrss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def timed_get_function(lam, name):
    t = time.perf_counter()
    lam.get_function_configuration(FunctionName=name)
    return (time.perf_counter() - t) * 1000


def test_slow_headers_and_bad_signature_floods_leave_the_api_answering(srv, lam):
    name, _ = create(lam)
    lam.get_function_configuration(FunctionName=name)
    baseline = [timed_get_function(lam, name) for _ in range(10)]
    rss_before = vmrss_kb(srv.proc.pid)
    stop = threading.Event()
    closed_by_server = [0]

    def slow_loris(count=1000, seconds=9.0):
        head = f"GET /2015-03-31/functions/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode() + b"a" * 10000
        socks = []
        for _ in range(count):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", srv.port))
            socks.append([s, 0])
        end = time.time() + seconds
        while time.time() < end and not stop.is_set():
            for entry in socks:
                s, n = entry
                if s is None:
                    continue
                try:
                    s.send(head[n:n + 1])
                    entry[1] = n + 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed_by_server[0] += 1
                    s.close()
                    entry[0] = None
            time.sleep(0.25)
        for s, _ in socks:
            if s is not None:
                s.close()

    bad = botocore_sign(srv, "POST", "/2015-03-31/functions", b"{}")
    bad["Authorization"] = bad["Authorization"][:-4] + "0000"
    flood_count = [0]

    def flood(seconds=9.0):
        body = b"{" + b" " * 65534 + b"}"
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        end = time.time() + seconds
        while time.time() < end and not stop.is_set():
            try:
                conn.request("POST", "/2015-03-31/functions", body=body, headers=bad)
                r = conn.getresponse()
                r.read()
                assert r.status == 403
                flood_count[0] += 1
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.close()

    threads = [threading.Thread(target=slow_loris)] + [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    during = []
    peak = rss_before
    while any(t.is_alive() for t in threads):
        during.append(timed_get_function(lam, name))
        peak = max(peak, vmrss_kb(srv.proc.pid))
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    rss_after = vmrss_kb(srv.proc.pid)
    p50, worst = statistics.median(during), max(during)
    print(f"GetFunctionConfiguration: baseline median {statistics.median(baseline):.1f} ms; during attack "
          f"median {p50:.1f} ms, p90 {sorted(during)[int(len(during) * 0.9)]:.1f} ms, max {worst:.1f} ms over {len(during)} calls")
    print(f"slow-loris connections closed by the server: {closed_by_server[0]} of 1000; "
          f"bad-signature requests refused: {flood_count[0]}")
    print(f"VmRSS: before {rss_before} kB, peak {peak} kB, after {rss_after} kB")
    assert closed_by_server[0] > 900, "the header timeout did not close slow connections"
    assert flood_count[0] > 50
    p90 = sorted(during)[int(len(during) * 0.9)]
    assert p90 < 100, f"GetFunction latency p90 {p90:.1f} ms (median {p50:.1f} ms)"
    assert peak - rss_before < 200 * 1024, "the server's memory grew by more than 200 MB"
