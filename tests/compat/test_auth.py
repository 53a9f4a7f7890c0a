"""`--auth sigv4`: signatures by known keys pass; unsigned, unknown-key and badly signed requests get 403."""

import json
import tempfile
import urllib.request
from pathlib import Path

import botocore.exceptions
import pytest

from conftest import Server, create


@pytest.fixture(scope="module")
def signed_server():
    with tempfile.TemporaryDirectory(prefix="archfn-auth-") as d:
        creds = Path(d) / "credentials"
        creds.write_text("[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = good-secret\n\n[ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = ci-secret\n")
        s = Server(Path(d) / "data", ["--auth", "sigv4", "--credentials-file", str(creds)]).start()
        yield s
        s.stop()


def code_of(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_known_keys_work(signed_server):
    for key, secret in (("AKIDGOOD", "good-secret"), ("AKIDCI", "ci-secret")):
        lam = signed_server.client(key=key, secret=secret)
        name, _ = create(lam)
        assert lam.get_function(FunctionName=f"arn:aws:lambda:us-east-1:000000000000:function:{name}")["Configuration"]["FunctionName"] == name
        assert lam.list_functions(MaxItems=1)["Functions"]


def test_region_comes_from_the_credential_scope(signed_server):
    lam = signed_server.client(region="eu-central-1", key="AKIDGOOD", secret="good-secret")
    name, resp = create(lam)
    assert resp["FunctionArn"].startswith("arn:aws:lambda:eu-central-1:")


def test_wrong_secret_is_refused(signed_server):
    lam = signed_server.client(key="AKIDGOOD", secret="not-it")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.list_functions()
    assert code_of(e) == ("InvalidSignatureException", 403)


def test_unknown_key_is_refused(signed_server):
    lam = signed_server.client(key="AKIDUNKNOWN", secret="good-secret")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.list_functions()
    assert code_of(e) == ("UnrecognizedClientException", 403)


def test_unsigned_is_refused(signed_server):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(signed_server.url + "/2015-03-31/functions")
    assert e.value.code == 403
    assert e.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_tampered_body_is_refused(signed_server):
    lam = signed_server.client(key="AKIDGOOD", secret="good-secret")

    def tamper(request, **kwargs):
        request.body = (request.body or b"").replace(b"tampered-desc", b"evil-desc-xyz")

    name, _ = create(lam)
    lam.meta.events.register_last("before-send.lambda.UpdateFunctionConfiguration", tamper)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Description="tampered-desc")
    assert code_of(e) == ("InvalidSignatureException", 403)


def test_open_mode_accepts_any_signature(server):
    lam = server.client(key="anything", secret="whatever")
    assert "Functions" in lam.list_functions()


def test_the_image_registry_is_off_when_requests_are_signed(signed_server, server):
    """The registry API has no authentication of its own, so a signed server refuses it."""
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(signed_server.url + "/v2/")
    assert e.value.code == 401
    assert json.loads(e.value.read())["errors"][0]["code"] == "UNAUTHORIZED"
    with urllib.request.urlopen(server.url + "/v2/") as r:
        assert r.status == 200 and r.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
