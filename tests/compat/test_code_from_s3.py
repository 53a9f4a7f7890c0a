"""Code from archfn's S3: CreateFunction, UpdateFunctionCode and PublishLayerVersion with
`S3Bucket`/`S3Key`/`S3ObjectVersion`, the objects uploaded with boto3's S3 client and with
`aws s3 cp` (multipart above 8 MB); the functions run; the object's blob is the code (no copy) and
outlives the object; Lambda's errors for what is missing or refused."""

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import ROLE, Server, make_zip, unique, wait_updated

RUNTIME = "python3.11"


@pytest.fixture(scope="module")
def server(runtimes):
    # Garbage collection every second, of blobs older than 2 s: what a function's code needs must
    # survive it. (The grace period is what keeps an S3 upload's blob between its write and its
    # record; 2 s is plenty for these uploads.)
    with tempfile.TemporaryDirectory(prefix="archfn-s3code-") as d:
        s = Server(Path(d) / "data", ["--gc-interval", "1", "--gc-grace", "2"]).start()
        yield s
        s.stop()


@pytest.fixture(scope="module")
def lam(server):
    return server.client()


def s3_client(server, region="us-east-1"):
    return boto3.client("s3", endpoint_url=server.url, region_name=region,
                        aws_access_key_id="AKIDARCHFN", aws_secret_access_key="archfn-secret",
                        config=Config(retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server)


@pytest.fixture(scope="module")
def bucket(s3):
    name = unique("code")
    s3.create_bucket(Bucket=name)
    return name


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def blob_path(server, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return server.data_dir / "blobs" / digest[:2] / digest


def wait_active(lam, name):
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})


def invoke(lam, name, event=None):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    assert "FunctionError" not in r, r["Payload"].read()
    return json.loads(r["Payload"].read())


def error_of(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


APP_V1 = "def handler(event, context):\n    return {'version': 1}\n"
APP_V2 = ("import helper\n"
          "def handler(event, context):\n    return {'version': 2, 'layer': helper.VALUE}\n")


def test_create_update_and_publish_a_layer_from_s3(lam, s3, bucket, server):
    v1 = make_zip({"app.py": APP_V1})
    s3.put_object(Bucket=bucket, Key="fn/v1.zip", Body=v1)
    name = unique("s3fn")
    created = lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                                  Code={"S3Bucket": bucket, "S3Key": "fn/v1.zip"})
    assert created["CodeSha256"] == sha256_b64(v1) and created["CodeSize"] == len(v1)
    assert created["State"] == "Pending"
    wait_active(lam, name)
    assert invoke(lam, name) == {"version": 1}

    layer_zip = make_zip({"python/helper.py": "VALUE = 'from-an-s3-layer'\n"})
    s3.put_object(Bucket=bucket, Key="layers/helper.zip", Body=layer_zip)
    layer = lam.publish_layer_version(LayerName=unique("s3layer"),
                                      Content={"S3Bucket": bucket, "S3Key": "layers/helper.zip"},
                                      CompatibleRuntimes=[RUNTIME])
    assert layer["Content"]["CodeSha256"] == sha256_b64(layer_zip)
    assert layer["Content"]["CodeSize"] == len(layer_zip)

    v2 = make_zip({"app.py": APP_V2})
    s3.put_object(Bucket=bucket, Key="fn/v2.zip", Body=v2)
    updated = lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="fn/v2.zip",
                                       S3ObjectVersion="null")
    assert updated["CodeSha256"] == sha256_b64(v2) and updated["LastUpdateStatus"] == "InProgress"
    wait_updated(lam, name)
    lam.update_function_configuration(FunctionName=name, Layers=[layer["LayerVersionArn"]])
    wait_updated(lam, name)
    assert invoke(lam, name) == {"version": 2, "layer": "from-an-s3-layer"}

    # The object's blob is the code: one file, not a copy, kept for the function and the layer
    # after their objects are deleted and garbage is collected.
    for data in (v2, layer_zip):
        assert blob_path(server, data).is_file()
    unused = make_zip({"app.py": "# never deployed\n"})
    s3.put_object(Bucket=bucket, Key="unused.zip", Body=unused)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in
                                                         ("fn/v1.zip", "fn/v2.zip", "layers/helper.zip", "unused.zip")]})
    deadline = time.time() + 20
    while blob_path(server, unused).exists() and time.time() < deadline:
        time.sleep(0.5)
    assert not blob_path(server, unused).exists(), "garbage collection did not run"
    assert blob_path(server, v2).is_file() and blob_path(server, layer_zip).is_file()
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(location, timeout=30) as r:
        assert r.read() == v2
    # v1 is no function's code any more: collected with its object.
    assert not blob_path(server, v1).exists()


def big_package(tmp_path: Path) -> Path:
    """A zip above 8 MB (so `aws s3 cp` uploads it in parts): a handler and 9 MB of incompressible
    data."""
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("app.py", "import os\ndef handler(event, context):\n"
                             "    return {'size': os.path.getsize('data.bin')}\n")
        z.writestr(zipfile.ZipInfo("data.bin"), os.urandom(9 * 1024 * 1024), compress_type=zipfile.ZIP_STORED)
    return path


def test_a_multipart_upload_from_the_aws_cli_is_deployed(lam, server, bucket, tmp_path):
    package = big_package(tmp_path)
    data = package.read_bytes()
    assert len(data) > 8 * 1024 * 1024
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDARCHFN", AWS_SECRET_ACCESS_KEY="archfn-secret",
               AWS_DEFAULT_REGION="us-east-1")
    cp = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.url, "s3", "cp", str(package),
                         f"s3://{bucket}/big.zip"], env=env, capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stderr
    # A multipart object's ETag ends in the number of its parts.
    head = s3_client(server).head_object(Bucket=bucket, Key="big.zip")
    assert head["ETag"].strip('"').endswith("-2"), head["ETag"]
    name = unique("bigfn")
    created = lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                                  Code={"S3Bucket": bucket, "S3Key": "big.zip"}, Architectures=["arm64"])
    assert created["CodeSize"] == len(data) and created["CodeSha256"] == sha256_b64(data)
    wait_active(lam, name)
    assert invoke(lam, name) == {"size": 9 * 1024 * 1024}


def hostile_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../escape.py", "x = 1\n")
    return buf.getvalue()


def over_the_unzipped_limit() -> bytes:
    """A zip of about 3 MB holding 270 MB: a 16 KB random block repeated compresses about 80:1,
    below the ratio that marks a zip bomb."""
    block = os.urandom(16 * 1024) * 64  # 1 MiB
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for i in range(27):
            with z.open(f"part{i}.bin", "w", force_zip64=True) as f:
                for _ in range(10):
                    f.write(block)
    return buf.getvalue()


def test_lambdas_errors_for_code_in_s3(lam, s3, bucket, server):
    good = make_zip({"app.py": APP_V1})
    s3.put_object(Bucket=bucket, Key="good.zip", Body=good)

    def create_with(code):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            lam.create_function(FunctionName=unique("bad"), Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                                Code=code)
        return error_of(e)

    prefix = "Error occurred while GetObject. S3 Error Code: "
    assert create_with({"S3Bucket": unique("missing"), "S3Key": "good.zip"}) == (
        "InvalidParameterValueException",
        prefix + "NoSuchBucket. S3 Error Message: The specified bucket does not exist", 400)
    assert create_with({"S3Bucket": bucket, "S3Key": "absent.zip"}) == (
        "InvalidParameterValueException",
        prefix + "NoSuchKey. S3 Error Message: The specified key does not exist.", 400)
    assert create_with({"S3Bucket": bucket, "S3Key": "good.zip",
                        "S3ObjectVersion": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"}) == (
        "InvalidParameterValueException",
        prefix + "NoSuchVersion. S3 Error Message: The specified version does not exist.", 400)
    assert create_with({"ZipFile": good, "S3Bucket": bucket, "S3Key": "good.zip"}) == (
        "InvalidParameterValueException",
        "Please do not provide other FunctionCode parameters when providing a ZipFile.", 400)

    west = unique("west")
    s3_client(server, "us-west-2").create_bucket(Bucket=west,
                                                 CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3_client(server, "us-west-2").put_object(Bucket=west, Key="good.zip", Body=good)
    assert create_with({"S3Bucket": west, "S3Key": "good.zip"}) == (
        "InvalidParameterValueException",
        prefix + "PermanentRedirect. S3 Error Message: The bucket is in this region: us-west-2. "
                 "Please use this region to retry the request", 400)

    s3.put_object(Bucket=bucket, Key="huge.zip", Body=over_the_unzipped_limit())
    assert create_with({"S3Bucket": bucket, "S3Key": "huge.zip"}) == (
        "InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes", 400)
    hostile = hostile_zip()
    s3.put_object(Bucket=bucket, Key="escape.zip", Body=hostile)
    code, message, status = create_with({"S3Bucket": bucket, "S3Key": "escape.zip"})
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("Could not unzip uploaded file. Please check your file, then try to upload again.")
    s3.put_object(Bucket=bucket, Key="text.zip", Body=b"not a zip at all")
    assert create_with({"S3Bucket": bucket, "S3Key": "text.zip"}) == (
        "InvalidParameterValueException",
        "Could not unzip uploaded file. Please check your file, then try to upload again.", 400)

    # The same answers from UpdateFunctionCode and PublishLayerVersion.
    name = unique("errfn")
    lam.create_function(FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": bucket, "S3Key": "good.zip"})
    wait_active(lam, name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="absent.zip")
    assert error_of(e)[1] == prefix + "NoSuchKey. S3 Error Message: The specified key does not exist."
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_code(FunctionName=name, ZipFile=good, S3Bucket=bucket, S3Key="good.zip")
    assert error_of(e)[1] == "Please do not provide other FunctionCode parameters when providing a ZipFile."
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.publish_layer_version(LayerName=unique("badlayer"),
                                  Content={"S3Bucket": unique("missing"), "S3Key": "x.zip"})
    assert error_of(e) == ("InvalidParameterValueException",
                           prefix + "NoSuchBucket. S3 Error Message: The specified bucket does not exist", 400)
    # Nothing was stored for what was refused: the escaping zip's blob is only its object's.
    s3.delete_object(Bucket=bucket, Key="escape.zip")
    escape = blob_path(server, hostile)
    deadline = time.time() + 20
    while escape.exists() and time.time() < deadline:
        time.sleep(0.5)
    assert not escape.exists()
