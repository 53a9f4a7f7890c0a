"""Function URLs: the configuration operations with Lambda's shapes and errors, and the URLs
served for real by `archfn serve` (called with curl and signed requests): the resource-based
policy for AuthType NONE, SigV4 for AWS_IAM, the 2.0 event the function sees, Lambda's
response mapping and CORS."""

import base64
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import Server, create, make_zip

APP = r'''
import base64, json
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    path = event.get("rawPath", "")
    if path.startswith("/echo"):
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps({"event": event, "count": COUNT, "arn": context.invoked_function_arn})}
    if path == "/string":
        return "hello"
    if path == "/dict":
        return {"hello": "world"}
    if path == "/list":
        return ["a", 1, True]
    if path == "/resp":
        return {"statusCode": "418", "headers": {"X-Custom": "v", "Access-Control-Allow-Origin": "https://evil.example"},
                "cookies": ["a=1; Path=/", "b=2"], "body": base64.b64encode(b"bin\x00ary").decode(),
                "isBase64Encoded": True}
    if path == "/raise":
        raise ValueError("boom")
    return {"statusCode": 204}
'''

URL_RE = re.compile(r"^http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/$")
FORBIDDEN = "Forbidden. For troubleshooting Function URL authorization issues, see: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"


def error_of(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def curl(url, *args, data=None):
    """Calls `url` with curl; returns (status, headers as a list of (lower-case name, value), body bytes)."""
    with tempfile.NamedTemporaryFile() as hdr:
        cmd = ["curl", "-sS", "-D", hdr.name, "--max-time", "60", *args]
        if data is not None:
            cmd += ["--data-binary", "@-"]
        cmd.append(url)
        out = subprocess.run(cmd, input=data, capture_output=True, check=True).stdout
        lines = Path(hdr.name).read_text().splitlines()
    status = int(lines[0].split()[1])
    headers = [(k.strip().lower(), v.strip()) for k, _, v in (l.partition(":") for l in lines[1:] if ":" in l)]
    return status, headers, out


def hget(headers, name):
    vals = [v for k, v in headers if k == name]
    return vals[0] if vals else None


def make_public(lam, name, qualifier=None):
    q = {"Qualifier": qualifier} if qualifier else {}
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowPublicAccess", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE", **q)
    lam.add_permission(FunctionName=name, StatementId="FunctionURLAllowInvokeAction", Action="lambda:InvokeFunction",
                       Principal="*", InvokedViaFunctionUrl=True, **q)


@pytest.fixture(scope="module")
def app(lam, runtimes):
    name, resp = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}),
                        Handler="app.handler", Timeout=10)
    return name, resp["FunctionArn"]


@pytest.fixture(scope="module")
def public_url(lam, app):
    name, _ = app
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE",
                                         Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
                                               "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-custom"],
                                               "MaxAge": 300, "AllowCredentials": True})["FunctionUrl"]
    make_public(lam, name)
    return url


def test_configuration_lifecycle(lam, server, runtimes):
    name, arn = create(lam)[0], None
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    m = URL_RE.match(created["FunctionUrl"])
    assert m and int(m.group(2)) == server.port
    assert created["FunctionArn"] == arn and created["AuthType"] == "NONE"
    assert "InvokeMode" not in created and "LastModifiedTime" not in created and "Cors" not in created
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", created["CreationTime"])

    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert error_of(e) == ("ResourceConflictException",
                           f"Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists for this Lambda function", 409)

    got = lam.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == created["FunctionUrl"] and got["InvokeMode"] == "BUFFERED"
    assert got["LastModifiedTime"]

    cors = {"AllowOrigins": ["*"], "AllowMethods": ["GET"], "MaxAge": 10}
    up = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors=cors, InvokeMode="RESPONSE_STREAM")
    assert up["AuthType"] == "AWS_IAM" and up["Cors"] == cors and up["InvokeMode"] == "RESPONSE_STREAM"
    assert up["FunctionUrl"] == created["FunctionUrl"] and up["CreationTime"] == created["CreationTime"]
    kept = lam.update_function_url_config(FunctionName=name)
    assert kept["InvokeMode"] == "RESPONSE_STREAM" and kept["Cors"] == cors and kept["AuthType"] == "AWS_IAM"

    alias_url = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE", InvokeMode="BUFFERED")
    assert alias_url["FunctionArn"] == f"{arn}:live" and alias_url["InvokeMode"] == "BUFFERED"
    assert alias_url["FunctionUrl"] != created["FunctionUrl"]
    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn, f"{arn}:live"]
    assert all(c["InvokeMode"] for c in listed)
    page = lam.list_function_url_configs(FunctionName=name, MaxItems=1)
    assert len(page["FunctionUrlConfigs"]) == 1 and page["NextMarker"]
    rest = lam.list_function_url_configs(FunctionName=name, Marker=page["NextMarker"])
    assert [c["FunctionArn"] for c in rest["FunctionUrlConfigs"]] == [f"{arn}:live"] and "NextMarker" not in rest

    lam.delete_function_url_config(FunctionName=name, Qualifier="live")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_url_config(FunctionName=name, Qualifier="live")
    assert error_of(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.delete_function_url_config(FunctionName=name, Qualifier="live")
    assert error_of(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert error_of(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)

    # Deleting the alias deletes its URL.
    lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    lam.delete_alias(FunctionName=name, Name="live")
    assert [c["FunctionArn"] for c in lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]] == [arn]


def test_configuration_errors(lam, server):
    name, _ = create(lam)
    for q in ("$LATEST", "1"):
        for call in (lambda: lam.create_function_url_config(FunctionName=name, Qualifier=q, AuthType="NONE"),
                     lambda: lam.get_function_url_config(FunctionName=name, Qualifier=q),
                     lambda: lam.delete_function_url_config(FunctionName=name, Qualifier=q)):
            with pytest.raises(botocore.exceptions.ClientError) as e:
                call()
            assert error_of(e) == ("ValidationException",
                                   f"1 validation error detected: Value '{q}' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: ((?!^\\d+$)^[0-9a-zA-Z-_]+$)", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName="no-such-fn", AuthType="NONE")
    assert error_of(e) == ("ResourceNotFoundException", "Function does not exist", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName=name, Qualifier="nope", AuthType="NONE")
    assert error_of(e) == ("ResourceNotFoundException", "Function does not exist", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_url_config(FunctionName="no-such-fn", AuthType="NONE")
    assert error_of(e) == ("ResourceNotFoundException", "Function does not exist", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.list_function_url_configs(FunctionName="no-such-fn")
    assert error_of(e) == ("ResourceNotFoundException", "Function does not exist", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_url_config(FunctionName="no-such-fn")
    assert error_of(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_url_config(FunctionName=f"{name}:a", Qualifier="b")
    assert error_of(e) == ("InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.", 400)
    raw = server.client(validate=False)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        raw.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="UNKNOWN")
    assert error_of(e) == ("ValidationException",
                           "1 validation error detected: Value 'UNKNOWN' at 'invokeMode' failed to satisfy constraint: Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]", 400)
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


def test_none_auth_needs_both_permissions(lam, app):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler")
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    status, headers, body = curl(url + "string")
    assert status == 403 and json.loads(body) == {"Message": FORBIDDEN}
    assert hget(headers, "x-amzn-errortype") == "AccessDeniedException"
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    # Since October 2025 lambda:InvokeFunction is needed too.
    assert curl(url + "string")[0] == 403
    # A grant with a condition an anonymous caller cannot meet does not count.
    lam.add_permission(FunctionName=name, StatementId="acct", Action="lambda:InvokeFunction", Principal="*",
                       SourceAccount="111111111111")
    assert curl(url + "string")[0] == 403
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    status, headers, body = curl(url + "string")
    assert (status, body) == (200, b"hello")
    assert hget(headers, "x-archfn-execution") in ("native", "emulated")
    lam.remove_permission(FunctionName=name, StatementId="url")
    assert curl(url + "string")[0] == 403


def test_event_as_the_function_sees_it(lam, app, public_url):
    status, headers, body = curl(public_url + "echo/a%20b?x=1&x=2&y=z%2Fw&e=", "-X", "POST",
                                 "-H", "Content-Type: application/json", "-H", "X-Multi: one", "-H", "X-Multi: two",
                                 "-H", "Cookie: c1=v1; c2=v2", "-A", "curl-test/1.0", data=b'{"k": "v"}')
    assert status == 200
    out = json.loads(body)
    ev, url_id = out["event"], URL_RE.match(public_url).group(1)
    assert ev["version"] == "2.0" and ev["routeKey"] == "$default"
    assert ev["rawPath"] == "/echo/a%20b"
    assert ev["rawQueryString"] == "x=1&x=2&y=z%2Fw&e="
    assert ev["queryStringParameters"] == {"x": "1,2", "y": "z/w", "e": ""}
    assert ev["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in ev["headers"]
    assert ev["headers"]["x-multi"] == "one,two"
    assert ev["headers"]["content-type"] == "application/json"
    assert ev["headers"]["user-agent"] == "curl-test/1.0"
    assert all(k == k.lower() for k in ev["headers"])
    assert ev["body"] == '{"k": "v"}' and ev["isBase64Encoded"] is False
    rc = ev["requestContext"]
    assert rc["accountId"] == "anonymous" and rc["apiId"] == url_id and rc["domainPrefix"] == url_id
    assert rc["domainName"].startswith(f"{url_id}.lambda-url.us-east-1.localhost")
    assert rc["http"] == {"method": "POST", "path": "/echo/a%20b", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "curl-test/1.0"}
    assert rc["routeKey"] == "$default" and rc["stage"] == "$default"
    assert re.match(r"^\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000$", rc["time"])
    assert abs(rc["timeEpoch"] - time.time() * 1000) < 120_000
    assert rc["requestId"] and "authorizer" not in rc
    assert out["arn"] == app[1]

    # A GET has no body; a binary body is base64.
    ev = json.loads(curl(public_url + "echo")[2])["event"]
    assert "body" not in ev and ev["isBase64Encoded"] is False and "queryStringParameters" not in ev and "cookies" not in ev
    ev = json.loads(curl(public_url + "echo", "-H", "Content-Type: application/octet-stream", data=b"\x00\xffbin")[2])["event"]
    assert ev["isBase64Encoded"] is True and base64.b64decode(ev["body"]) == b"\x00\xffbin"


def test_response_mapping(app, public_url):
    assert curl(public_url + "string")[::2] == (200, b"hello")
    status, headers, body = curl(public_url + "dict")
    assert (status, json.loads(body), hget(headers, "content-type")) == (200, {"hello": "world"}, "application/json")
    assert json.loads(curl(public_url + "list")[2]) == ["a", 1, True]
    status, headers, body = curl(public_url + "resp")
    assert (status, body) == (418, b"bin\x00ary")
    assert hget(headers, "x-custom") == "v"
    assert [v for k, v in headers if k == "set-cookie"] == ["a=1; Path=/", "b=2"]
    assert hget(headers, "x-amzn-requestid")
    status, _, body = curl(public_url + "raise")
    assert (status, body) == (502, b"Internal Server Error")
    assert curl(public_url + "other")[0] == 204


def test_cors(app, public_url):
    before = json.loads(curl(public_url + "echo")[2])["count"]
    status, headers, body = curl(public_url + "echo", "-X", "OPTIONS", "-H", "Origin: https://app.example",
                                 "-H", "Access-Control-Request-Method: POST", "-H", "Access-Control-Request-Headers: x-custom")
    assert status == 200 and body == b""
    assert hget(headers, "access-control-allow-origin") == "https://app.example"
    assert hget(headers, "access-control-allow-methods") == "GET,POST"
    assert hget(headers, "access-control-allow-headers") == "x-custom"
    assert hget(headers, "access-control-max-age") == "300"
    assert hget(headers, "access-control-allow-credentials") == "true"
    # The preflight did not reach the function.
    assert json.loads(curl(public_url + "echo")[2])["count"] == before + 1
    # A real answer carries the configured headers, not the function's.
    status, headers, _ = curl(public_url + "resp", "-H", "Origin: https://app.example")
    assert status == 418
    assert [v for k, v in headers if k == "access-control-allow-origin"] == ["https://app.example"]
    assert hget(headers, "access-control-expose-headers") == "x-custom"
    _, headers, _ = curl(public_url + "resp", "-H", "Origin: https://other.example")
    assert hget(headers, "access-control-allow-origin") is None
    _, headers, _ = curl(public_url + "echo", "-X", "OPTIONS", "-H", "Origin: https://other.example",
                         "-H", "Access-Control-Request-Method: POST")
    assert hget(headers, "access-control-allow-origin") is None


def test_lambda_host_form_and_unknown_urls(server, app, public_url):
    url_id = URL_RE.match(public_url).group(1)
    status, _, body = curl(f"{server.url}/string", "-H", f"Host: {url_id}.lambda-url.us-east-1.on.aws")
    assert (status, body) == (200, b"hello")
    status, headers, _ = curl(f"http://{'0' * 32}.lambda-url.us-east-1.localhost:{server.port}/")
    assert status == 403 and hget(headers, "x-amzn-errortype") == "AccessDeniedException"
    # The same id in another region is not this URL.
    assert curl(f"{server.url}/string", "-H", f"Host: {url_id}.lambda-url.eu-west-1.on.aws")[0] == 403
    # Without a URL host, the path is the Lambda API's.
    assert curl(f"{server.url}/string")[0] == 404


def test_alias_url_invokes_the_alias(lam, app):
    name, arn = app
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="web", FunctionVersion="1")
    url = lam.create_function_url_config(FunctionName=name, Qualifier="web", AuthType="NONE")["FunctionUrl"]
    assert curl(url + "echo")[0] == 403  # the unqualified function's policy does not cover the alias
    make_public(lam, name, "web")
    status, _, body = curl(url + "echo")
    assert status == 200 and json.loads(body)["arn"] == f"{arn}:web"


def test_url_goes_with_its_function(lam, runtimes):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler")
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    make_public(lam, name)
    assert curl(url + "string")[0] == 200
    lam.delete_function(FunctionName=name)
    assert curl(url + "string")[0] == 403
    create(lam, name=name, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_url_config(FunctionName=name)
    assert error_of(e)[0] == "ResourceNotFoundException"


@pytest.fixture(scope="module")
def signed_server(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-urls-") as d:
        creds = Path(d) / "credentials"
        creds.write_text("[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = good-secret\n")
        s = Server(Path(d) / "data", ["--auth", "sigv4", "--credentials-file", str(creds)]).start()
        yield s
        s.stop()


def signed(url, key, secret, method="GET", body=b""):
    req = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(req)
    return [a for k, v in req.headers.items() for a in ("-H", f"{k}: {v}")]


def test_aws_iam_needs_a_valid_signature(signed_server):
    lam = signed_server.client(key="AKIDGOOD", secret="good-secret")
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler")
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    status, headers, body = curl(url + "echo")
    assert status == 403 and json.loads(body) == {"Message": "Forbidden"}
    status, _, body = curl(url + "echo?a=1", "-X", "POST", *signed(url + "echo?a=1", "AKIDGOOD", "good-secret", "POST", b"payload"),
                           data=b"payload")
    assert status == 200, body
    ev = json.loads(body)["event"]
    iam = ev["requestContext"]["authorizer"]["iam"]
    assert iam["accessKey"] == "AKIDGOOD" and iam["accountId"] == ev["requestContext"]["accountId"]
    assert ev["requestContext"]["accountId"] != "anonymous"
    status, headers, _ = curl(url + "echo", *signed(url + "echo", "AKIDGOOD", "wrong-secret"))
    assert status == 403 and hget(headers, "x-amzn-errortype") == "InvalidSignatureException"
    status, headers, _ = curl(url + "echo", *signed(url + "echo", "AKIDNOBODY", "good-secret"))
    assert status == 403 and hget(headers, "x-amzn-errortype") == "UnrecognizedClientException"
    # A signature over another body does not pass.
    status, _, _ = curl(url + "echo", "-X", "POST", *signed(url + "echo", "AKIDGOOD", "good-secret", "POST", b"one"), data=b"two")
    assert status == 403
