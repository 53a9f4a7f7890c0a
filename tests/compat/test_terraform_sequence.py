"""The calls Terraform's AWS provider makes for an `aws_lambda_function` (internal/service/lambda/
function.go: resourceFunctionCreate, resourceFunctionRead, resourceFunctionUpdate,
resourceFunctionDelete and their waiters), replayed in order with boto3 against archfn, each
answer checked for what the provider reads from it, shaped as Lambda shapes it.

The resource: `publish = true`, code in S3 (`s3_bucket`, `s3_key`), arm64. Create, one update of
configuration and code, and destroy."""

import base64
import hashlib
import json
import re
import time

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import ROLE, make_zip, unique

LAST_MODIFIED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


@pytest.fixture(scope="module")
def s3(server):
    return boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id="AKIDARCHFN", aws_secret_access_key="archfn-secret",
                        config=Config(retries={"max_attempts": 0}))


def wait_for(read, pending, target, timeout=60):
    """The provider's StateChangeConf: `read` until its status is in `target`; any status outside
    `pending` and `target` is a failure (as it is for Terraform)."""
    deadline = time.time() + timeout
    while True:
        out, status = read()
        if status in target:
            return out
        assert status in pending, f"unexpected status {status!r}: {out}"
        assert time.time() < deadline, f"still {status!r} after {timeout}s"
        time.sleep(0.1)


def function_state(lam, name):
    def read():
        try:
            c = lam.get_function(FunctionName=name)["Configuration"]
        except lam.exceptions.ResourceNotFoundException:
            return None, ""
        return c, c["State"]
    return read


def last_update_status(lam, name):
    def read():
        c = lam.get_function(FunctionName=name)["Configuration"]
        return c, c["LastUpdateStatus"]
    return read


def version_last_update_status(lam, arn, version):
    def read():
        c = lam.get_function_configuration(FunctionName=arn, Qualifier=version)
        # A missing LastUpdateStatus counts as InProgress: the provider would wait forever.
        return c, c.get("LastUpdateStatus", "InProgress")
    return read


def check_configuration(c, *, name, arn, version, code, handler, memory, description, env):
    """The members resourceFunctionRead sets from a FunctionConfiguration, as Lambda writes them;
    `arn` is the ARN as the caller addressed the function."""
    assert c["FunctionName"] == name
    assert c["FunctionArn"] == arn
    assert c["Version"] == version
    assert c["Architectures"] == ["arm64"]
    assert c["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert c["CodeSize"] == len(code)
    assert c["Description"] == description
    assert c["Handler"] == handler and c["Runtime"] == "python3.13" and c["Role"] == ROLE
    assert c["MemorySize"] == memory and c["Timeout"] == 3
    assert c["PackageType"] == "Zip"
    assert c["EphemeralStorage"] == {"Size": 512}
    assert c["TracingConfig"] == {"Mode": "PassThrough"}
    assert c["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert c["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert LAST_MODIFIED.match(c["LastModified"]), c["LastModified"]
    assert re.fullmatch(r"[0-9a-f-]{36}", c["RevisionId"])
    if env is None:
        assert "Environment" not in c
    else:
        assert c["Environment"] == {"Variables": env}
    # What the provider flattens to empty blocks must be absent, not null.
    for absent in ("DeadLetterConfig", "KMSKeyArn", "SigningJobArn", "SigningProfileVersionArn",
                   "ImageConfigResponse", "FileSystemConfigs", "VpcConfig", "Layers"):
        assert absent not in c or c[absent], (absent, c.get(absent))


def read_resource(lam, name):
    """resourceFunctionRead without a qualifier: GetFunction, ListVersionsByFunction (MaxItems
    10000, the last entry of the last page is the latest version), GetFunctionCodeSigningConfig;
    and GetFunctionConcurrency, which the provider calls for a qualified read."""
    got = lam.get_function(FunctionName=name)
    # findFunction: no Code or no Configuration is "empty result".
    assert got["Code"]["RepositoryType"] == "S3" and got["Code"]["Location"].startswith("http")
    assert "Concurrency" not in got
    assert got["Tags"] == {"team": "arch"}
    pages = list(lam.get_paginator("list_versions_by_function").paginate(FunctionName=name, MaxItems=10000))
    assert len(pages) == 1 and "NextMarker" not in pages[0]
    versions = pages[0]["Versions"]
    assert versions[0]["Version"] == "$LATEST" and versions[0]["FunctionArn"].endswith(":$LATEST")
    signing = lam.get_function_code_signing_config(FunctionName=name)
    assert signing["FunctionName"] == name and signing["CodeSigningConfigArn"] == ""
    concurrency = lam.get_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in concurrency
    return got, versions[-1]


def test_terraform_creates_updates_and_destroys_a_function(lam, s3, runtimes):
    bucket = unique("tf-artifacts")
    s3.create_bucket(Bucket=bucket)
    v1 = make_zip({"app.py": "def handler(event, context):\n    return 1\n"})
    v2 = make_zip({"app.py": "def handler(event, context):\n    return 2\n",
                   "lib.py": "X = 2\n"})
    s3.put_object(Bucket=bucket, Key="v1.zip", Body=v1)
    s3.put_object(Bucket=bucket, Key="v2.zip", Body=v2)
    name = unique("tf")

    # resourceFunctionCreate.
    created = lam.create_function(
        FunctionName=name, Code={"S3Bucket": bucket, "S3Key": "v1.zip"}, Description="", MemorySize=128,
        PackageType="Zip", Publish=True, Role=ROLE, Tags={"team": "arch"}, Timeout=3, Architectures=["arm64"],
        Handler="app.handler", Runtime="python3.13")
    arn = created["FunctionArn"]
    assert arn == f"arn:aws:lambda:us-east-1:{arn.split(':')[4]}:function:{name}"
    assert created["Version"] == "1" and created["State"] == "Pending" and "LastUpdateStatus" not in created
    # RetryWhenNotFound(findFunctionByName), then waitFunctionCreated.
    config = wait_for(function_state(lam, name), pending={"Pending"}, target={"Active", "ActiveNonInvocable"})
    assert config["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in config and "StateReasonCode" not in config
    got, latest = read_resource(lam, name)
    check_configuration(got["Configuration"], name=name, arn=arn, version="$LATEST", code=v1,
                        handler="app.handler", memory=128, description="", env=None)
    assert latest["Version"] == "1" and latest["FunctionArn"] == f"{arn}:1"
    # The version published with the function is ready as its waiters read readiness.
    first = wait_for(version_last_update_status(lam, latest["FunctionArn"], "1"),
                     pending={"InProgress"}, target={"Successful"})
    assert first["State"] == "Active"
    check_configuration(latest, name=name, arn=f"{arn}:1", version="1", code=v1, handler="app.handler", memory=128,
                        description="", env=None)

    # resourceFunctionUpdate: configuration, then code, each waited for; then a version.
    updated = lam.update_function_configuration(FunctionName=name, MemorySize=256,
                                                Environment={"Variables": {"STAGE": "two"}})
    assert updated["LastUpdateStatus"] == "InProgress" and updated["MemorySize"] == 256
    wait_for(last_update_status(lam, name), pending={"InProgress"}, target={"Successful"})
    code = lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="v2.zip")
    assert code["LastUpdateStatus"] == "InProgress"
    assert code["CodeSha256"] == base64.b64encode(hashlib.sha256(v2).digest()).decode()
    wait_for(last_update_status(lam, name), pending={"InProgress"}, target={"Successful"})
    published = lam.publish_version(FunctionName=name)
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["Version"] == "2" and published["FunctionArn"] == f"{arn}:2"
    # waitFunctionConfigurationUpdated(output.FunctionArn, output.Version).
    version = wait_for(version_last_update_status(lam, published["FunctionArn"], published["Version"]),
                       pending={"InProgress"}, target={"Successful"})
    check_configuration(version, name=name, arn=f"{arn}:2", version="2", code=v2, handler="app.handler", memory=256,
                        description="", env={"STAGE": "two"})
    got, latest = read_resource(lam, name)
    check_configuration(got["Configuration"], name=name, arn=arn, version="$LATEST", code=v2,
                        handler="app.handler", memory=256, description="", env={"STAGE": "two"})
    assert latest["Version"] == "2" and latest["FunctionArn"] == f"{arn}:2"
    answer = lam.invoke(FunctionName=f"{name}:2", Payload=b"{}")
    assert json.loads(answer["Payload"].read()) == 2

    # resourceFunctionDelete: DeleteFunction, then waitFunctionDeleted (GetFunction until 404).
    deleted = lam.delete_function(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    wait_for(function_state(lam, name), pending={"Active", "ActiveNonInvocable", "Pending", "Inactive", "Failed",
                                                 "Deleting"}, target={""})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == f"Function not found: {arn}"
