"""Bad input gets a clear 4xx in AWS's shape; limits are Lambda's; nothing is stored on refusal."""

import io
import json
import os
import stat
import urllib.request
import zipfile

import botocore.exceptions
import pytest

from conftest import ROLE, create, make_zip, unique


def error_of(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def raw(server, method, path, body):
    data = body if isinstance(body, bytes) else body.encode()
    req = urllib.request.Request(server.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        '{"FunctionName": 5, "Runtime": "python3.12"}',
        '{"FunctionName": "f", "MemorySize": "big"}',
        '{"FunctionName": "f", "Code": {"ZipFile": "***not base64***"}}',
        "[]",
        "\xff\xfe",
    ],
)
def test_malformed_bodies_are_400(server, body):
    status, headers, payload = raw(server, "POST", "/2015-03-31/functions", body)
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    doc = json.loads(payload)
    assert doc["message"].startswith("Could not parse request body into json")
    assert urllib.request.urlopen(server.url + "/healthz").status == 200


def test_not_a_zip(lam):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, zip_bytes=b"PK\x03\x04 this is not really a zip", wait=False)
    assert error_of(e) == ("InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again.", 400)


def zip_with(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for info, data in entries:
            if not info.is_dir() and info.external_attr >> 28 != 0xA:
                info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def symlink_entry(name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def test_zip_slip_is_refused_and_nothing_stored(server, lam):
    name = unique()
    evil = zip_with([(zipfile.ZipInfo("../../etc/evil"), "x")])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, name=name, zip_bytes=evil, wait=False)
    code, msg, _ = error_of(e)
    assert code == "InvalidParameterValueException" and "outside the archive root" in msg
    with pytest.raises(botocore.exceptions.ClientError):
        lam.get_function(FunctionName=name)


def test_escaping_symlink_is_refused(lam):
    z = zip_with([(zipfile.ZipInfo("ok.py"), "x = 1"), symlink_entry("bad", "../../../etc/shadow")])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, zip_bytes=z, wait=False)
    assert "symlink" in error_of(e)[1]


def test_inside_symlink_is_fine_and_extracted(server, lam):
    z = zip_with([(zipfile.ZipInfo("lib/real.py"), "x = 1"), symlink_entry("lib/alias.py", "real.py")])
    name, resp = create(lam, zip_bytes=z)
    digest = lam.get_function(FunctionName=name)["Code"]["Location"].split("/code/")[1].split("?")[0]
    prepared = server.data_dir / "code" / digest
    assert os.readlink(prepared / "lib" / "alias.py") == "real.py"
    assert (prepared / "lib" / "real.py").read_text() == "x = 1"


def test_zip_bomb_is_refused(lam):
    bomb = zip_with([(zipfile.ZipInfo("zeros", date_time=(2020, 1, 1, 0, 0, 0)), b"\0" * (40 << 20))])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, zip_bytes=bomb, wait=False)
    assert "zip bomb" in error_of(e)[1]


def test_zipped_size_limit(lam):
    # Between the 50 MiB zip limit and the 70167211-byte request limit once base64-encoded.
    big = zip_with([(zipfile.ZipInfo("rand.bin"), os.urandom(52_500_000))])
    assert 52_428_800 < len(big) < 52_600_000
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, zip_bytes=big, wait=False)
    assert error_of(e) == ("RequestEntityTooLargeException", "Zipped size must be smaller than 52428800 bytes", 413)


def test_request_size_limit(server):
    # The server answers from the headers alone, before the body is sent.
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(
            b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 70200000\r\n\r\n{"
        )
        head = s.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 413")
    assert "x-amzn-errortype: requestentitytoolargeexception" in head.lower()
    assert "Request must be smaller than 70167211 bytes for the CreateFunction operation" in head


def test_unzipped_size_limit(lam):
    # About 14:1 compressible (far from a bomb), 4 x 66 MB unzipped > 250 MB, about 20 MB zipped.
    block = b"".join(os.urandom(64) + b"\0" * 960 for _ in range(1024))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for i in range(4):
            z.writestr(f"part{i}.bin", block * 66)
    assert len(buf.getvalue()) < 50 << 20
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, zip_bytes=buf.getvalue(), wait=False)
    assert error_of(e) == ("InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes", 400)


@pytest.mark.parametrize(
    "kw,code,fragment",
    [
        (dict(MemorySize=64), "ValidationException", "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"),
        (dict(MemorySize=10241), "ValidationException", "Member must have value less than or equal to 10240"),
        (dict(Timeout=0), "ValidationException", "at 'timeout'"),
        (dict(Timeout=901), "InvalidParameterValueException", "900"),
        (dict(EphemeralStorage={"Size": 10241}), "ValidationException", "ephemeralStorage.size"),
        (dict(Role="r1"), "ValidationException", "Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"),
        (dict(Environment={"Variables": {"AWS_REGION": "x"}}), "InvalidParameterValueException", "reserved keys"),
        (dict(Environment={"Variables": {"BIG": "x" * 5000}}), "InvalidParameterValueException", "exceeded the 4KB limit"),
        (dict(FunctionName="x" * 65), "InvalidParameterValueException", "Member must have length less than or equal to 64"),
    ],
)
def test_configuration_limits(server, kw, code, fragment):
    lam = server.client(validate=False)  # the server, not botocore, must refuse these
    args = dict(FunctionName=unique(), Runtime="python3.12", Role=ROLE, Handler="h.h", Code={"ZipFile": make_zip()})
    args.update(kw)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(**args)
    c, msg, _ = error_of(e)
    assert c == code and fragment in msg


def test_s3_code_is_not_reachable(lam):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName=unique(), Runtime="python3.12", Role=ROLE, Handler="h.h", Code={"S3Bucket": "my-bucket", "S3Key": "code.zip"})
    assert error_of(e)[1].startswith("Error occurred while GetObject. S3 Error Code: NoSuchBucket.")


def test_unknown_paths_answer_in_aws_shape(server):
    status, headers, _ = raw(server, "GET", "/2099-01-01/nothing", b"")
    assert status == 404 and headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_errors_carry_request_ids(server):
    status, headers, body = raw(server, "GET", "/2015-03-31/functions/nope", b"")
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert headers.get("x-amzn-RequestId")
    assert json.loads(body) == {"Type": "User", "message": "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"}
