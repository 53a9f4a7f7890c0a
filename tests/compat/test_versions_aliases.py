"""Versions keep their architecture; aliases route between versions, with Lambda's validation."""

import botocore.exceptions
import pytest

from conftest import create, make_zip, wait_updated


def error_of(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_versions_keep_their_architecture_and_code(lam):
    name, first = create(lam)
    v1 = lam.publish_version(FunctionName=name, Description="x86 build")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith(f"{name}:1")
    assert v1["Architectures"] == ["x86_64"] and v1["Description"] == "x86 build"
    z2 = make_zip({"lambda_function.py": "def handler(e, c):\n    return 'arm'\n"})
    lam.update_function_code(FunctionName=name, ZipFile=z2, Architectures=["arm64"])
    wait_updated(lam, name)
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2" and v2["Architectures"] == ["arm64"]
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(v["Version"], v["Architectures"]) for v in versions] == [("$LATEST", ["arm64"]), ("1", ["x86_64"]), ("2", ["arm64"])]
    assert versions[0]["FunctionArn"].endswith(":$LATEST")
    got1 = lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert got1["Architectures"] == ["x86_64"] and got1["CodeSha256"] == first["CodeSha256"]


def test_publish_is_idempotent_without_changes(lam):
    name, _ = create(lam)
    before = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    v1 = lam.publish_version(FunctionName=name)
    after = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    assert after != before, "publishing changes $LATEST's RevisionId"
    again = lam.publish_version(FunctionName=name, Description="ignored")
    assert again["Version"] == "1" and again["RevisionId"] == v1["RevisionId"]
    lam.update_function_configuration(FunctionName=name, Description="changed")
    wait_updated(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


def test_publish_checks_sha_and_revision(lam):
    name, _ = create(lam)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.publish_version(FunctionName=name, CodeSha256="abc")
    assert error_of(e)[1].startswith("CodeSHA256 (abc) is different from current CodeSHA256 in $LATEST (")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.publish_version(FunctionName=name, RevisionId="nope")
    assert error_of(e)[0] == "PreconditionFailedException"


def test_create_with_publish_and_update_code_with_publish(lam):
    name, resp = create(lam, Publish=True)
    assert resp["Version"] == "1" and not resp["FunctionArn"].endswith(":1")
    resp = lam.update_function_code(FunctionName=name, ZipFile=make_zip({"a.py": "1"}), Publish=True, Architectures=["arm64"])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Version"] == "2" and resp["FunctionArn"].endswith(f"{name}:2")
    assert resp["Architectures"] == ["arm64"]
    wait_updated(lam, name)
    assert lam.get_function(FunctionName=name, Qualifier="2")["Configuration"]["State"] in ("Pending", "Active")
    # Nothing changed since that publish: PublishVersion answers version 2 again, as AWS does.
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


def test_publish_after_create_with_publish_returns_version_1(lam):
    name, resp = create(lam, Publish=True)
    assert resp["Version"] == "1"
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1"]


def test_version_numbers_are_not_reused(lam):
    name, _ = create(lam)
    lam.publish_version(FunctionName=name)
    lam.delete_function(FunctionName=name, Qualifier="1")
    lam.update_function_configuration(FunctionName=name, Description="d")
    wait_updated(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


@pytest.fixture(scope="module")
def two_arch_function(lam):
    name, _ = create(lam)
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"b.py": "2"}), Architectures=["arm64"])
    wait_updated(lam, name)
    lam.publish_version(FunctionName=name)
    return name


def test_weighted_alias_across_architectures(lam, two_arch_function):
    name = two_arch_function
    a = lam.create_alias(FunctionName=name, Name="canary", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    assert a["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert a["AliasArn"].endswith(f"{name}:canary")
    assert a["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    assert a["Description"] == ""
    got = lam.get_function(FunctionName=name, Qualifier="canary")["Configuration"]
    assert got["Version"] == "1" and got["FunctionArn"].endswith(":canary")
    u = lam.update_alias(FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in u and u["RevisionId"] != a["RevisionId"]
    u2 = lam.update_alias(FunctionName=name, Name="canary")
    assert u2["RevisionId"] != u["RevisionId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_alias(FunctionName=name, Name="canary", Description="x", RevisionId="stale")
    assert error_of(e)[0] == "PreconditionFailedException"
    lam.create_alias(FunctionName=name, Name="2024-01-02", FunctionVersion="2")
    names = [x["Name"] for x in lam.list_aliases(FunctionName=name)["Aliases"]]
    assert names == ["2024-01-02", "canary"]
    assert [x["Name"] for x in lam.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]] == ["2024-01-02"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.delete_function(FunctionName=name, Qualifier="2")
    assert error_of(e)[0] == "ResourceConflictException"


@pytest.mark.parametrize(
    "kwargs,code,message",
    [
        (dict(Name="2024", FunctionVersion="1"), "ValidationException",
         "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"),
        (dict(Name="a1", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5, "3": 0.1}}), "InvalidParameterValueException",
         "Number of items in AdditionalVersionWeights cannot be greater than 1"),
        (dict(Name="a2", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 2.0}}), "ValidationException",
         "1 validation error detected: Value '{2=2.0}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0, Member must not be null]"),
        (dict(Name="a3", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}), "InvalidParameterValueException",
         "Invalid function version 1. Function version 1 is already included in routing configuration."),
        (dict(Name="a4", FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}), "InvalidParameterValueException",
         "$LATEST is not supported for an alias pointing to more than 1 version"),
        (dict(Name="a5", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}}), "ValidationException",
         "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]"),
    ],
)
def test_alias_routing_validation(lam, two_arch_function, kwargs, code, message):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_alias(FunctionName=two_arch_function, **kwargs)
    assert error_of(e)[:2] == (code, message)


def test_alias_not_found_wordings(lam, two_arch_function):
    name = two_arch_function
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_alias(FunctionName=name, Name="x", FunctionVersion="10")
    assert error_of(e) == ("ResourceNotFoundException", f"Function not found: {arn}:10", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_alias(FunctionName=name, Name="missing")
    assert error_of(e)[1] == f"Cannot find alias arn: {arn}:missing"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_alias(FunctionName=name, Name="missing", Description="d")
    assert error_of(e)[1] == f"Alias not found: {arn}:missing"
    assert lam.delete_alias(FunctionName=name, Name="missing")["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.create_alias(FunctionName=name, Name="dup", FunctionVersion="1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_alias(FunctionName=name, Name="dup", FunctionVersion="1")
    assert error_of(e) == ("ResourceConflictException", f"Alias already exists: {arn}:dup", 409)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_alias(FunctionName="no-such-fn", Name="x", FunctionVersion="3")
    assert error_of(e)[1] == "Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-fn:3"
