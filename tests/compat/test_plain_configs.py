"""The plain configuration operations, with boto3: code signing configurations and the one a
function uses, layer version permissions, runtime management and recursion configurations,
with their defaults and errors."""

import json
import re

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import ROLE, create, make_zip, server_fixture, unique

lam = server_fixture(prefix="archfn-configs-")
PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/MyProfile/abcdef1234"


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response


def unvalidated(lam):
    return boto3.client(
        "lambda", endpoint_url=lam.meta.endpoint_url, region_name="us-east-1",
        aws_access_key_id="AKIDARCHFN", aws_secret_access_key="archfn-secret",
        config=Config(retries={"max_attempts": 0}, parameter_validation=False))


def account_of(lam, name):
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"].split(":")[4]


# Code signing ---------------------------------------------------------------------------------

def test_code_signing_config_lifecycle(lam):
    c = lam.create_code_signing_config(Description="mine", AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})
    assert c["ResponseMetadata"]["HTTPStatusCode"] == 201
    csc = c["CodeSigningConfig"]
    assert re.fullmatch(r"csc-[a-z0-9]{17}", csc["CodeSigningConfigId"])
    assert re.fullmatch(r"arn:aws:lambda:us-east-1:\d{12}:code-signing-config:" + csc["CodeSigningConfigId"], csc["CodeSigningConfigArn"])
    assert csc["AllowedPublishers"] == {"SigningProfileVersionArns": [PROFILE]}
    assert csc["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert csc["Description"] == "mine" and csc["LastModified"]
    arn = csc["CodeSigningConfigArn"]
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == csc

    u = lam.update_code_signing_config(CodeSigningConfigArn=arn, CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})
    assert u["CodeSigningConfig"]["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert u["CodeSigningConfig"]["Description"] == "mine", "members not given are kept"
    listed = [x["CodeSigningConfigArn"] for x in lam.list_code_signing_configs()["CodeSigningConfigs"]]
    assert arn in listed

    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    resp = error_of(lambda: lam.get_code_signing_config(CodeSigningConfigArn=arn))
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert resp["Error"]["Code"] == "ResourceNotFoundException"
    assert resp["Error"]["Message"] == f"The code signing configuration cannot be found. Check that the provided configuration is not deleted: {arn}."
    assert error_of(lambda: lam.delete_code_signing_config(CodeSigningConfigArn=arn))["Error"]["Code"] == "ResourceNotFoundException"


def test_code_signing_validation(lam):
    raw = unvalidated(lam)
    resp = error_of(lambda: raw.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": ["not-an-arn"]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Sometimes"}))
    assert resp["Error"]["Code"] == "ValidationException"
    msg = resp["Error"]["Message"]
    assert msg.startswith("2 validation errors detected: "), msg
    assert "Value 'Sometimes' at 'codeSigningPolicies.untrustedArtifactOnDeployment' failed to satisfy constraint: Member must satisfy enum value set: [Warn, Enforce]" in msg
    # A list member's violation, as Lambda words those (the wire's model-derived check).
    assert ("Value '[not-an-arn]' at 'allowedPublishers.signingProfileVersionArns' failed to satisfy constraint: "
            "Member must satisfy constraint: [") in msg
    resp = error_of(lambda: raw.create_code_signing_config(Description="x"))
    assert resp["Error"]["Code"] == "ValidationException"
    assert resp["Error"]["Message"] == "1 validation error detected: Value null at 'allowedPublishers' failed to satisfy constraint: Member must not be null"
    resp = error_of(lambda: raw.get_code_signing_config(CodeSigningConfigArn="csc-nope"))
    assert resp["Error"]["Code"] == "ValidationException"
    assert "at 'codeSigningConfigArn' failed to satisfy constraint: Member must satisfy regular expression pattern" in resp["Error"]["Message"]


def test_function_code_signing(lam):
    name, _ = create(lam, runtime="python3.13")
    # Terraform reads this on every refresh: a function without one answers an empty ARN.
    got = lam.get_function_code_signing_config(FunctionName=name)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["CodeSigningConfigArn"] == "" and got["FunctionName"] == name

    account = account_of(lam, name)
    missing = f"arn:aws:lambda:us-east-1:{account}:code-signing-config:csc-0123456789abcdef0"
    resp = error_of(lambda: lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=missing))
    assert resp["Error"]["Code"] == "CodeSigningConfigNotFoundException"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404

    arn = lam.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})["CodeSigningConfig"]["CodeSigningConfigArn"]
    put = lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=arn)
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, name)
    assert lam.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == arn
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == [fn_arn]

    # Enforce acts as Warn: archfn cannot verify signatures, so unsigned code still deploys.
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"lambda_function.py": "def handler(e, c):\n    return 2\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    assert json.loads(lam.invoke(FunctionName=name)["Payload"].read()) == 2

    # In use: the configuration cannot be deleted.
    resp = error_of(lambda: lam.delete_code_signing_config(CodeSigningConfigArn=arn))
    assert resp["Error"]["Code"] == "ResourceConflictException"

    lam.delete_function_code_signing_config(FunctionName=name)
    assert lam.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == ""
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)

    resp = error_of(lambda: lam.get_function_code_signing_config(FunctionName="nope-" + name))
    assert resp["Error"]["Code"] == "ResourceNotFoundException"


def test_create_function_with_code_signing_config(lam):
    arn = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})["CodeSigningConfig"]["CodeSigningConfigArn"]
    name, _ = create(lam, runtime="python3.13", CodeSigningConfigArn=arn)
    assert lam.get_function_code_signing_config(FunctionName=name)["CodeSigningConfigArn"] == arn
    # Deleting the function forgets it.
    lam.delete_function(FunctionName=name)
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []


def test_code_signing_pages(lam):
    arns = [lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})["CodeSigningConfig"]["CodeSigningConfigArn"]
            for _ in range(3)]
    seen, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = lam.list_code_signing_configs(MaxItems=2, **kw)
        assert len(page["CodeSigningConfigs"]) <= 2
        seen += [c["CodeSigningConfigArn"] for c in page["CodeSigningConfigs"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert set(arns) <= set(seen) and len(seen) == len(set(seen))


# Layer version permissions --------------------------------------------------------------------

def publish_layer(lam):
    name = unique("layer")
    v = lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
    return name, v["Version"], v["LayerVersionArn"]


def test_layer_version_permissions(lam):
    name, version, layer_arn = publish_layer(lam)
    resp = error_of(lambda: lam.get_layer_version_policy(LayerName=name, VersionNumber=version))
    assert resp["Error"]["Code"] == "ResourceNotFoundException"
    assert resp["Error"]["Message"] == "No policy is associated with the given resource."

    added = lam.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="xaccount",
                                             Action="lambda:GetLayerVersion", Principal="210987654321")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "xaccount", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "lambda:GetLayerVersion", "Resource": layer_arn}
    org = lam.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="org",
                                           Action="lambda:GetLayerVersion", Principal="*", OrganizationId="o-abcdefghij",
                                           RevisionId=added["RevisionId"])
    assert json.loads(org["Statement"])["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}
    assert json.loads(org["Statement"])["Principal"] == "*"

    got = lam.get_layer_version_policy(LayerName=name, VersionNumber=version)
    policy = json.loads(got["Policy"])
    assert policy["Version"] == "2012-10-17" and policy["Id"] == "default"
    assert [s["Sid"] for s in policy["Statement"]] == ["xaccount", "org"]
    assert got["RevisionId"] == org["RevisionId"]

    resp = error_of(lambda: lam.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="org",
                                                             Action="lambda:GetLayerVersion", Principal="*"))
    assert resp["Error"]["Code"] == "ResourceConflictException"
    resp = error_of(lambda: lam.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="late",
                                                             Action="lambda:GetLayerVersion", Principal="*",
                                                             RevisionId=added["RevisionId"]))
    assert resp["Error"]["Code"] == "PreconditionFailedException"

    lam.remove_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="xaccount")
    assert [s["Sid"] for s in json.loads(lam.get_layer_version_policy(LayerName=name, VersionNumber=version)["Policy"])["Statement"]] == ["org"]
    resp = error_of(lambda: lam.remove_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="xaccount"))
    assert resp["Error"]["Code"] == "ResourceNotFoundException"
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="org")
    assert error_of(lambda: lam.get_layer_version_policy(LayerName=name, VersionNumber=version))["Error"]["Code"] == "ResourceNotFoundException"

    # A deleted layer version takes its policy along; a missing one is not found.
    lam.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="s",
                                     Action="lambda:GetLayerVersion", Principal="*")
    lam.delete_layer_version(LayerName=name, VersionNumber=version)
    resp = error_of(lambda: lam.get_layer_version_policy(LayerName=name, VersionNumber=version))
    assert resp["Error"]["Code"] == "ResourceNotFoundException"
    resp = error_of(lambda: lam.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="s",
                                                             Action="lambda:GetLayerVersion", Principal="*"))
    assert resp["Error"]["Code"] == "ResourceNotFoundException"


def test_layer_permission_validation(lam):
    name, version, _ = publish_layer(lam)
    raw = unvalidated(lam)
    resp = error_of(lambda: raw.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="a b",
                                                             Action="lambda:InvokeFunction", Principal="someone"))
    assert resp["Error"]["Code"] == "ValidationException"
    msg = resp["Error"]["Message"]
    assert msg.startswith("3 validation errors detected: "), msg
    assert "Value 'lambda:InvokeFunction' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: lambda:GetLayerVersion" in msg
    resp = error_of(lambda: raw.add_layer_version_permission(LayerName=name, VersionNumber=version, StatementId="s",
                                                             Principal="*"))
    assert resp["Error"]["Message"] == "1 validation error detected: Value null at 'action' failed to satisfy constraint: Member must not be null"


# Runtime management ---------------------------------------------------------------------------

def test_runtime_management_config(lam):
    name, _ = create(lam, runtime="python3.13")
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    got = lam.get_runtime_management_config(FunctionName=name)
    assert got["UpdateRuntimeOn"] == "Auto" and got["FunctionArn"] == fn_arn and "RuntimeVersionArn" not in got

    rv = "arn:aws:lambda:us-east-1::runtime:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    put = lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn=rv)
    assert (put["UpdateRuntimeOn"], put["RuntimeVersionArn"], put["FunctionArn"]) == ("Manual", rv, fn_arn)
    got = lam.get_runtime_management_config(FunctionName=name)
    assert (got["UpdateRuntimeOn"], got["RuntimeVersionArn"]) == ("Manual", rv)

    resp = error_of(lambda: lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Manual"))
    assert resp["Error"]["Code"] == "InvalidParameterValueException"
    resp = error_of(lambda: unvalidated(lam).put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Sometimes"))
    assert resp["Error"]["Code"] == "ValidationException"
    assert "Value 'Sometimes' at 'updateRuntimeOn' failed to satisfy constraint: Member must satisfy enum value set: [Auto, Manual, FunctionUpdate]" in resp["Error"]["Message"]

    # Per version: a published version has its own; an alias is refused.
    v = lam.publish_version(FunctionName=name)["Version"]
    got = lam.get_runtime_management_config(FunctionName=name, Qualifier=v)
    assert got["UpdateRuntimeOn"] == "Auto" and got["FunctionArn"] == f"{fn_arn}:{v}"
    lam.put_runtime_management_config(FunctionName=name, Qualifier=v, UpdateRuntimeOn="FunctionUpdate")
    assert lam.get_runtime_management_config(FunctionName=name, Qualifier=v)["UpdateRuntimeOn"] == "FunctionUpdate"
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Manual"
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v)
    resp = error_of(lambda: lam.get_runtime_management_config(FunctionName=name, Qualifier="live"))
    assert resp["Error"]["Code"] == "InvalidParameterValueException"
    assert resp["Error"]["Message"] == f"The provided function name {fn_arn}:live is invalid. Aliases are not allowed."
    resp = error_of(lambda: lam.get_runtime_management_config(FunctionName=name, Qualifier="42"))
    assert resp["Error"]["Code"] == "ResourceNotFoundException"


# Recursion ------------------------------------------------------------------------------------

def test_recursion_config(lam):
    name, _ = create(lam, runtime="python3.13")
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    assert lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    resp = error_of(lambda: unvalidated(lam).put_function_recursion_config(FunctionName=name, RecursiveLoop="Sometimes"))
    assert resp["Error"]["Code"] == "ValidationException"
    assert resp["Error"]["Message"] == ("1 validation error detected: Value 'Sometimes' at 'recursiveLoop' failed to satisfy "
                                        "constraint: Member must satisfy enum value set: [Allow, Terminate]")
    resp = error_of(lambda: lam.get_function_recursion_config(FunctionName="missing-" + name))
    assert resp["Error"]["Code"] == "ResourceNotFoundException"
    # Deleted with the function: a new function of that name starts from the default.
    lam.delete_function(FunctionName=name)
    create(lam, name=name, runtime="python3.13")
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


def test_create_function_refuses_a_missing_code_signing_config(lam):
    name = unique("csc")
    missing = "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0"
    resp = error_of(lambda: lam.create_function(FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="lambda_function.handler",
                                                Code={"ZipFile": make_zip()}, CodeSigningConfigArn=missing))
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert resp["Error"]["Code"] == "CodeSigningConfigNotFoundException"
    assert error_of(lambda: lam.get_function(FunctionName=name))["Error"]["Code"] == "ResourceNotFoundException"
