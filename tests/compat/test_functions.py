"""Functions through boto3: defaults, the architecture and runtime rules, reads, lists, updates, deletes."""

import hashlib
import uuid
import base64
import urllib.request

import botocore.exceptions
import pytest

from conftest import ROLE, create, make_zip, unique, wait_updated


def error_of(exc_info):
    err = exc_info.value.response["Error"]
    return err["Code"], err["Message"], exc_info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_defaults_to_x86_64_and_pending(lam):
    name = unique()
    z = make_zip()
    resp = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="lambda_function.handler", Code={"ZipFile": z})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert resp["Architectures"] == ["x86_64"]
    assert resp["State"] == "Pending"
    assert resp["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in resp
    assert resp["MemorySize"] == 128 and resp["Timeout"] == 3 and resp["Description"] == ""
    assert resp["PackageType"] == "Zip" and resp["EphemeralStorage"] == {"Size": 512}
    assert resp["TracingConfig"] == {"Mode": "PassThrough"}
    assert resp["Version"] == "$LATEST"
    assert resp["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert resp["CodeSha256"] == base64.b64encode(hashlib.sha256(z).digest()).decode()
    assert resp["CodeSize"] == len(z)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["State"] == "Active" and conf["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in conf
    assert conf["RevisionId"] != resp["RevisionId"], "becoming Active changes the RevisionId"


def test_arm64_is_kept(lam):
    name, resp = create(lam, arch="arm64")
    assert resp["Architectures"] == ["arm64"]
    assert lam.get_function(FunctionName=name)["Configuration"]["Architectures"] == ["arm64"]


def test_two_architectures_is_a_length_error(lam):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, wait=False, Architectures=["x86_64", "arm64"])
    code, msg, status = error_of(e)
    assert (code, status) == ("ValidationException", 400)
    assert msg == "1 validation error detected: Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1"


def test_miscased_architecture_is_an_enum_error(lam):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, wait=False, Architectures=["X86_64"])
    code, msg, _ = error_of(e)
    assert code == "ValidationException"
    assert "Value '[X86_64]' at 'architectures'" in msg and "[x86_64, arm64]" in msg


def test_unknown_runtime(lam):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, wait=False, runtime="python9.9")
    code, msg, status = error_of(e)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert msg.startswith("Value python9.9 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [")
    assert msg.endswith("or be a valid ARN")
    # The runtimes listed are those a function can be created with today: no retired ones.
    listed = msg.split("enum value set: [", 1)[1].split("]", 1)[0].split(", ")
    assert "python3.12" in listed and "nodejs22.x" in listed
    assert "python3.7" not in listed and "go1.x" not in listed


@pytest.mark.parametrize("runtime", ["python3.7", "go1.x", "provided", "nodejs12.x", "java8"])
def test_blocked_runtimes_are_refused(lam, runtime):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, wait=False, runtime=runtime, arch="arm64")
    code, msg, _ = error_of(e)
    assert code == "InvalidParameterValueException"
    assert msg == (
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda functions. "
        "We recommend you use a supported runtime while creating or updating functions."
    )


@pytest.mark.parametrize("runtime", ["python3.13", "python3.12", "python3.11", "nodejs22.x", "provided.al2023", "java21", "ruby3.4"])
def test_current_runtimes_run_on_both_architectures(lam, runtime):
    for arch in ("x86_64", "arm64"):
        _, resp = create(lam, wait=False, runtime=runtime, arch=arch)
        assert resp["Architectures"] == [arch]


def test_duplicate_name_conflicts(lam):
    name, _ = create(lam)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, name=name, wait=False)
    assert error_of(e)[:3:2] == ("ResourceConflictException", 409)
    assert error_of(e)[1] == f"Function already exist: {name}"


def test_get_function_code_location_serves_the_zip(lam):
    z = make_zip({"lambda_function.py": "x = 1\n", "data/blob.bin": "y" * 1000})
    name, _ = create(lam, zip_bytes=z)
    got = lam.get_function(FunctionName=name)
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as r:
        assert r.read() == z
    tampered = got["Code"]["Location"].replace("token=", "token=0")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(tampered)


def test_names_partial_and_full_arns(lam):
    name, _ = create(lam)
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    for ref in (name, arn, f"000000000000:function:{name}"):
        assert lam.get_function_configuration(FunctionName=ref)["FunctionName"] == name
    assert lam.get_function(FunctionName=name, Qualifier="$LATEST")["Configuration"]["FunctionArn"] == f"{arn}:$LATEST"
    assert lam.get_function_configuration(FunctionName=f"{arn}:$LATEST")["Version"] == "$LATEST"


def test_not_found_messages(lam):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function(FunctionName="nope-nothing")
    assert error_of(e) == ("ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope-nothing", 404)
    name, _ = create(lam)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function(FunctionName=name, Qualifier="$latest")
    assert error_of(e)[1].endswith(f"function:{name}:$latest")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function(FunctionName=f"{name}:1", Qualifier="2")
    assert error_of(e)[1] == "The derived qualifier from the function name does not match the specified qualifier."


def test_other_region_arn_is_unreachable(lam):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function(FunctionName="arn:aws:lambda:eu-west-1:000000000000:function:x")
    assert error_of(e) == ("ResourceNotFoundException", "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')", 404)


def test_regions_are_separate(server):
    east, west = server.client("us-east-1"), server.client("eu-west-1")
    name, _ = create(west)
    assert west.get_function(FunctionName=name)["Configuration"]["FunctionArn"].startswith("arn:aws:lambda:eu-west-1:")
    with pytest.raises(botocore.exceptions.ClientError):
        east.get_function(FunctionName=name)


@pytest.mark.parametrize("bad", ["my-function!", "*", "arn:aws:lambda:us-east-1:000000000000:function:f:1:2", "arn:aws:s3:::bucket"])
def test_invalid_names(lam, bad):
    with pytest.raises((botocore.exceptions.ClientError, botocore.exceptions.ParamValidationError)) as e:
        lam.get_function(FunctionName=bad)
    if isinstance(e.value, botocore.exceptions.ClientError):
        assert error_of(e)[0] == "ValidationException"
        assert "at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern" in error_of(e)[1]


def test_list_functions_pages_and_all_versions(server):
    lam = server.client("ap-south-1")
    names = sorted(create(lam)[0] for _ in range(7))
    lam.publish_version(FunctionName=names[0])
    seen, marker = [], None
    while True:
        kw = {"MaxItems": 3}
        if marker:
            kw["Marker"] = marker
        page = lam.list_functions(**kw)
        assert len(page["Functions"]) <= 3
        seen += [f["FunctionName"] for f in page["Functions"]]
        for f in page["Functions"]:
            assert f["FunctionArn"].endswith(f":function:{f['FunctionName']}")
            assert "State" not in f and "RuntimeVersionConfig" not in f
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == names
    everything = lam.get_paginator("list_functions").paginate(FunctionVersion="ALL", PaginationConfig={"PageSize": 2})
    entries = [(f["FunctionName"], f["Version"], f["FunctionArn"]) for p in everything for f in p["Functions"]]
    assert len(entries) == 8
    assert (names[0], "1", f"arn:aws:lambda:ap-south-1:000000000000:function:{names[0]}:1") in entries
    assert all(arn.endswith(":$LATEST") for _, v, arn in entries if v == "$LATEST")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.list_functions(FunctionVersion="invalid")
    assert error_of(e)[1] == "1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"


def test_update_code_changes_architecture(lam):
    name, created = create(lam)
    z2 = make_zip({"lambda_function.py": "def handler(e, c):\n    return 2\n"})
    resp = lam.update_function_code(FunctionName=name, ZipFile=z2, Architectures=["arm64"])
    assert resp["Architectures"] == ["arm64"]
    assert resp["LastUpdateStatus"] == "InProgress"
    assert resp["LastUpdateStatusReasonCode"] == "Creating"
    assert resp["CodeSha256"] != created["CodeSha256"]
    wait_updated(lam, name)
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["Architectures"] == ["arm64"] and conf["LastUpdateStatus"] == "Successful"
    assert "LastUpdateStatusReason" not in conf


def test_update_code_rejects_bad_architectures(lam):
    name, _ = create(lam)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_code(FunctionName=name, ZipFile=make_zip(), Architectures=["arm64", "x86_64"])
    assert error_of(e)[0] == "ValidationException"


def test_update_configuration_has_no_architectures(server, lam):
    import json
    import urllib.request as u

    name, _ = create(lam)
    req = u.Request(
        f"{server.url}/2015-03-31/functions/{name}/configuration",
        data=json.dumps({"Architectures": ["arm64"]}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(u.HTTPError) as e:
        u.urlopen(req)
    assert e.value.code == 400
    assert e.value.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["x86_64"]


def test_update_configuration_and_revision_ids(lam):
    name, _ = create(lam)
    before = lam.get_function_configuration(FunctionName=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Description="x", RevisionId="stale")
    assert error_of(e) == (
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        412,
    )
    resp = lam.update_function_configuration(
        FunctionName=name, Description="new", MemorySize=512, Timeout=30, Environment={"Variables": {"AA": "1"}},
        RevisionId=before["RevisionId"],
    )
    assert resp["Description"] == "new" and resp["MemorySize"] == 512 and resp["Timeout"] == 30
    assert resp["Environment"] == {"Variables": {"AA": "1"}}
    assert resp["LastUpdateStatus"] == "InProgress"
    wait_updated(lam, name)
    assert lam.get_function_configuration(FunctionName=name)["Architectures"] == ["x86_64"]


def slow_zip():
    """An archive whose preparation (unpacking 3,000 files) takes long enough to overlap a request.
    Each one is distinct: archfn unpacks a digest once, so a second archive with the same bytes
    (zips built within the same second are identical) would be ready at once."""
    files = {f"pkg/f{i}.txt": "z" * 4000 for i in range(3000)}
    files["pkg/unique.txt"] = uuid.uuid4().hex
    return make_zip(files)


def test_update_while_pending_conflicts(lam):
    name, _ = create(lam, zip_bytes=slow_zip(), wait=False)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Description="x")
    code, msg, status = error_of(e)
    assert (code, status) == ("ResourceConflictException", 409)
    assert msg == (
        f"The operation cannot be performed at this time. The resource arn:aws:lambda:us-east-1:000000000000:function:{name} "
        "is currently in the following state: 'Pending'. StateReasonCode: 'Creating'"
    )


def test_update_while_in_progress_conflicts(lam):
    name, _ = create(lam)
    lam.update_function_code(FunctionName=name, ZipFile=slow_zip())
    for call in (
        lambda: lam.update_function_configuration(FunctionName=name, Description="again"),
        lambda: lam.publish_version(FunctionName=name),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        code, msg, status = error_of(e)
        assert (code, status) == ("ResourceConflictException", 409)
        assert msg.endswith(f"An update is in progress for resource: arn:aws:lambda:us-east-1:000000000000:function:{name}")
    wait_updated(lam, name)
    assert lam.update_function_configuration(FunctionName=name, Description="now fine")["Description"] == "now fine"


def test_delete_function(lam):
    name, _ = create(lam)
    lam.publish_version(FunctionName=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert error_of(e)[1] == "$LATEST version cannot be deleted without deleting the function."
    lam.delete_function(FunctionName=name, Qualifier="99")  # missing version: silently fine
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST"]
    resp = lam.delete_function(FunctionName=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.delete_function(FunctionName=name)
    assert error_of(e)[0] == "ResourceNotFoundException"


def test_settings_archfn_does_not_act_on_are_kept(lam):
    name, resp = create(
        lam,
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"},
        DeadLetterConfig={"TargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq"},
        KMSKeyArn="arn:aws:kms:us-east-1:123456789012:key/abc",
    )
    conf = lam.get_function_configuration(FunctionName=name)
    # LoggingConfig is acted on now (test_logging_config.py); with JSON the level not given
    # shows Lambda's default.
    assert conf["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "INFO",
                                     "LogGroup": f"/aws/lambda/{name}"}
    assert conf["DeadLetterConfig"] == {"TargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq"}
    assert conf["KMSKeyArn"] == "arn:aws:kms:us-east-1:123456789012:key/abc"
    plain, _ = create(lam)
    assert lam.get_function_configuration(FunctionName=plain)["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{plain}"}
