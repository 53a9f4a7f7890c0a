"""Resource-based policies: AddPermission, GetPolicy, RemovePermission, with Lambda's statement
shapes and errors (texts as AWS answers them)."""

import json

import botocore.exceptions
import pytest

from conftest import create


def error_of(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def fn(lam):
    name, resp = create(lam)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name, resp["FunctionArn"]


def test_add_get_remove(lam, fn):
    name, arn = fn
    r = lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket",
                           SourceAccount="111111111111")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    # The statement is a JSON string, keys in Lambda's order.
    assert r["Statement"] == json.dumps({
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceAccount": "111111111111"},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}},
    }, separators=(",", ":"))
    lam.add_permission(FunctionName=name, StatementId="acct", Action="lambda:GetFunction", Principal="123456789012")
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE", PrincipalOrgID="o-1234567890")
    lam.add_permission(FunctionName=name, StatementId="via-url", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    lam.add_permission(FunctionName=name, StatementId="user", Action="lambda:*",
                       Principal="arn:aws:iam::123456789012:user/alice", EventSourceToken="tok-1")
    got = lam.get_policy(FunctionName=name)
    policy = json.loads(got["Policy"])
    assert policy["Version"] == "2012-10-17" and policy["Id"] == "default"
    assert [s["Sid"] for s in policy["Statement"]] == ["s3", "acct", "url", "via-url", "user"]
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["acct"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert by_sid["url"]["Principal"] == "*"
    assert by_sid["url"]["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE", "aws:PrincipalOrgID": "o-1234567890"}}
    assert by_sid["via-url"]["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}
    assert by_sid["user"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:user/alice"}
    assert by_sid["user"]["Condition"] == {"StringEquals": {"lambda:EventSourceToken": "tok-1"}}
    assert "Condition" not in by_sid["acct"]
    assert got["RevisionId"]

    # RevisionId: a stale one is refused, the current one accepted.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.remove_permission(FunctionName=name, StatementId="acct", RevisionId="stale")
    assert error_of(e) == ("PreconditionFailedException",
                           "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id", 412)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.add_permission(FunctionName=name, StatementId="late", Action="lambda:InvokeFunction",
                           Principal="sns.amazonaws.com", RevisionId="stale")
    assert error_of(e) == ("PreconditionFailedException",
                           "The Revision Id provided does not match the latest Revision Id. Call the GetPolicy API to retrieve the latest Revision Id", 412)
    lam.remove_permission(FunctionName=name, StatementId="acct", RevisionId=got["RevisionId"])
    after = lam.get_policy(FunctionName=name)
    assert after["RevisionId"] != got["RevisionId"]
    assert [s["Sid"] for s in json.loads(after["Policy"])["Statement"]] == ["s3", "url", "via-url", "user"]

    # The last statement takes the policy with it.
    for sid in ("s3", "url", "via-url", "user"):
        lam.remove_permission(FunctionName=name, StatementId=sid)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_policy(FunctionName=name)
    assert error_of(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.remove_permission(FunctionName=name, StatementId="s3")
    assert error_of(e) == ("ResourceNotFoundException", "No policy is associated with the given resource.", 404)


def test_qualified_policies_are_separate(lam, fn):
    name, arn = fn
    r = lam.add_permission(FunctionName=name, Qualifier="live", StatementId="same", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com")
    assert json.loads(r["Statement"])["Resource"] == f"{arn}:live"
    r = lam.add_permission(FunctionName=f"{name}:1", StatementId="same", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com")
    assert json.loads(r["Statement"])["Resource"] == f"{arn}:1"
    # The same sid may exist at each qualifier, not twice at one.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.add_permission(FunctionName=name, Qualifier="live", StatementId="same", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com")
    assert error_of(e) == ("ResourceConflictException",
                           "The statement id (same) provided already exists. Please provide a new statement id, or remove the existing statement.", 409)
    assert len(json.loads(lam.get_policy(FunctionName=name, Qualifier="live")["Policy"])["Statement"]) == 1
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_policy(FunctionName=name)
    assert error_of(e)[0] == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.remove_permission(FunctionName=name, Qualifier="live", StatementId="other")
    assert error_of(e) == ("ResourceNotFoundException", "Statement other is not found in resource policy.", 404)
    # Deleting the alias deletes its policy.
    lam.delete_alias(FunctionName=name, Name="live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_policy(FunctionName=name, Qualifier="live")
    assert error_of(e)[0] == "ResourceNotFoundException"


def test_errors(lam, fn):
    name, arn = fn
    base = dict(FunctionName=name, StatementId="x", Action="lambda:InvokeFunction", Principal="*")

    def err(**kw):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            lam.add_permission(**{**base, **kw})
        return error_of(e)

    assert err(Qualifier="$LATEST") == ("InvalidParameterValueException", "We currently do not support adding policies for $LATEST.", 400)
    assert err(Qualifier="42") == ("ResourceNotFoundException", f"Function not found: {arn}:42", 404)
    assert err(Qualifier="nope") == ("ResourceNotFoundException", f"Cannot find alias arn: {arn}:nope", 404)
    assert err(FunctionName=f"{name}:live", Qualifier="1") == (
        "InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.", 400)
    assert err(FunctionName="missing-fn") == (
        "ResourceNotFoundException", f"Function not found: {arn.rsplit(':', 1)[0]}:missing-fn", 404)
    # Without whitespace, so that it passes the model's pattern ([^\s]+) and reaches Lambda's own check.
    assert err(Principal="not-a-principal!") == (
        "InvalidParameterValueException", "The provided principal was invalid. Please check the principal and try again.", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.add_permission(**{**base, "StatementId": "example.com"})
    assert error_of(e) == ("ValidationException",
                           "1 validation error detected: Value 'example.com' at 'statementId' failed to satisfy constraint: Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)", 400)
    bad = server_client_unvalidated(lam)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.add_permission(**{**base, "Action": "s3:GetObject"})
    assert error_of(e) == ("ValidationException",
                           "1 validation error detected: Value 's3:GetObject' at 'action' failed to satisfy constraint: Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.remove_permission(FunctionName="missing-fn", StatementId="x")
    assert error_of(e) == ("ResourceNotFoundException", f"No policy found for: {arn.rsplit(':', 1)[0]}:missing-fn", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_policy(FunctionName="missing-fn")
    assert error_of(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)


def server_client_unvalidated(lam):
    import boto3
    from botocore.config import Config
    return boto3.client("lambda", endpoint_url=lam.meta.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="AKIDARCHFN", aws_secret_access_key="archfn-secret",
                        config=Config(retries={"max_attempts": 0}, parameter_validation=False))


def test_policy_goes_with_its_function(lam):
    name, _ = create(lam)
    lam.add_permission(FunctionName=name, StatementId="a", Action="lambda:InvokeFunction", Principal="*")
    lam.delete_function(FunctionName=name)
    create(lam, name=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_policy(FunctionName=name)
    assert error_of(e)[0] == "ResourceNotFoundException"
