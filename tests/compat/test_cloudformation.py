"""CloudFormation on archfn's endpoint: stacks of Lambda functions, versions and aliases made from
JSON and YAML templates (short forms, parameters, conditions, mappings, outputs) with boto3 and
`aws cloudformation deploy`; rollbacks, CloudFormation's template errors, deletion."""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import RUNTIMES_DIR, Server, archfn_bin, make_zip, unique

CODE = "import platform\ndef handler(event, context):\n    return {'machine': platform.machine(), 'env': __import__('os').environ.get('STAGE')}\n"

YAML_TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Description: an arm64 function, a version and an alias
Parameters:
  Stage:
    Type: String
    AllowedValues: [dev, prod]
  Memory:
    Type: Number
    Default: 256
    MinValue: 128
Mappings:
  Sizes:
    prod: {Timeout: 10}
    dev: {Timeout: 5}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Architectures: [arm64]
      Handler: index.handler
      Role: !GetAtt Role.Arn
      MemorySize: !Ref Memory
      Timeout: !FindInMap [Sizes, !Ref Stage, Timeout]
      Environment:
        Variables:
          STAGE: !If [IsProd, production, !Sub '${Stage}-stage']
      Code:
        ZipFile: |
%CODE%
  Ver:
    Type: AWS::Lambda::Version
    Properties:
      FunctionName: !Ref Fn
  Live:
    Type: AWS::Lambda::Alias
    Properties:
      FunctionName: !Ref Fn
      FunctionVersion: !GetAtt Ver.Version
      Name: live
Outputs:
  FunctionName:
    Value: !Ref Fn
  FunctionArn:
    Value: !GetAtt [Fn, Arn]
    Export:
      Name: !Sub '${AWS::StackName}-arn'
  AliasArn:
    Value: !Ref Live
""".replace("%CODE%", "\n".join("          " + line for line in CODE.splitlines()))


def json_template(code=CODE, extra=None):
    resources = {
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.11",
                "Architectures": ["arm64"],
                "Handler": "index.handler",
                "Role": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/lambda"},
                "Code": {"ZipFile": code},
            },
        }
    }
    resources.update(extra or {})
    return json.dumps({
        "Parameters": {"Suffix": {"Type": "String", "Default": "x"}},
        "Resources": resources,
        "Outputs": {"Name": {"Value": {"Ref": "Fn"}}, "Suffix": {"Value": {"Fn::Join": ["-", ["s", {"Ref": "Suffix"}]]}}},
    })


@pytest.fixture(scope="module")
def python_arm64():
    """The one runtime these stacks use (installing it does nothing when it is installed)."""
    subprocess.run([archfn_bin(), "runtime", "install", "python3.11", "--arch", "arm64", "--runtimes-dir",
                    str(RUNTIMES_DIR)], check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def server(python_arm64):
    with tempfile.TemporaryDirectory(prefix="archfn-cfn-") as d:
        s = Server(Path(d) / "data").start()
        yield s
        s.stop()


def clients(server):
    cfg = Config(retries={"max_attempts": 0}, read_timeout=120)
    kw = dict(endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDARCHFN",
              aws_secret_access_key="archfn-secret", config=cfg)
    return boto3.client("cloudformation", **kw), boto3.client("lambda", **kw)


def wait_stack(cfn, name, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        time.sleep(0.3)
    raise AssertionError(f"stack {name} still in progress")


def wait_deleted(cfn, stack_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
        if status != "DELETE_IN_PROGRESS":
            return status
        time.sleep(0.3)
    raise AssertionError(f"stack {stack_id} still being deleted")


def failures(cfn, name):
    return [(e["LogicalResourceId"], e.get("ResourceStatusReason"))
            for e in cfn.describe_stack_events(StackName=name)["StackEvents"] if e["ResourceStatus"].endswith("_FAILED")]


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def invoke(lam, name, qualifier=None):
    kw = {"Qualifier": qualifier} if qualifier else {}
    r = lam.invoke(FunctionName=name, Payload=b"{}", **kw)
    assert "FunctionError" not in r, r["Payload"].read()
    return json.loads(r["Payload"].read())


def test_yaml_stack_makes_an_arm64_function_version_and_alias(server):
    cfn, lam = clients(server)
    name = unique("yaml")
    stack_id = cfn.create_stack(
        StackName=name, TemplateBody=YAML_TEMPLATE, Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": "dev"}],
    )["StackId"]
    assert stack_id.startswith("arn:aws:cloudformation:us-east-1:")
    stack = wait_stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, name)
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    fn = outputs["FunctionName"]["OutputValue"]
    assert fn.startswith(f"{name}-Fn-")
    assert outputs["FunctionArn"]["ExportName"] == f"{name}-arn"
    assert outputs["AliasArn"]["OutputValue"].endswith(f":function:{fn}:live")
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {"Stage": "dev", "Memory": "256"}

    conf = lam.get_function_configuration(FunctionName=fn)
    assert conf["Architectures"] == ["arm64"]
    assert conf["MemorySize"] == 256 and conf["Timeout"] == 5
    assert conf["Environment"]["Variables"] == {"STAGE": "dev-stage"}
    assert invoke(lam, fn, "live") == {"machine": "aarch64", "env": "dev-stage"}
    assert lam.get_alias(FunctionName=fn, Name="live")["FunctionVersion"] == "1"

    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    assert events[0]["ResourceStatus"] == "CREATE_COMPLETE" and events[0]["LogicalResourceId"] == name
    assert events[-1]["ResourceStatus"] == "CREATE_IN_PROGRESS" and events[-1]["ResourceStatusReason"] == "User Initiated"
    done = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in reversed(events)]
    assert done.index(("Fn", "CREATE_COMPLETE")) < done.index(("Ver", "CREATE_IN_PROGRESS"))
    resources = {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName=name)["StackResources"]}
    assert resources["Fn"]["PhysicalResourceId"] == fn
    assert set(resources) == {"Role", "Fn", "Ver", "Live"}
    assert "Stage" in cfn.get_template(StackName=name)["TemplateBody"]

    cfn.delete_stack(StackName=name)
    assert wait_deleted(cfn, stack_id) == "DELETE_COMPLETE"
    assert error_of(lambda: lam.get_function(FunctionName=fn))[0] == "ResourceNotFoundException"
    assert error_of(lambda: cfn.describe_stacks(StackName=name)) == (
        "ValidationError", f"Stack with id {name} does not exist")
    summaries = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert any(s["StackId"] == stack_id for s in summaries)


def test_json_stack_and_update(server):
    cfn, lam = clients(server)
    name = unique("json")
    cfn.create_stack(StackName=name, TemplateBody=json_template())
    stack = wait_stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["Suffix"] == "s-x"
    assert invoke(lam, outputs["Name"])["machine"] == "aarch64"

    assert error_of(lambda: cfn.update_stack(StackName=name, TemplateBody=json_template())) == (
        "ValidationError", "No updates are to be performed.")
    cfn.update_stack(StackName=name, TemplateBody=json_template(CODE.replace("STAGE", "OTHER")),
                     Parameters=[{"ParameterKey": "Suffix", "ParameterValue": "y"}])
    stack = wait_stack(cfn, name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Suffix"] == "s-y"
    statuses = [e["ResourceStatus"] for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
                if e["LogicalResourceId"] == name]
    assert statuses[:3] == ["UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_IN_PROGRESS"]
    cfn.delete_stack(StackName=name)


def test_a_failing_resource_rolls_the_stack_back(server):
    cfn, lam = clients(server)
    name = unique("fail")
    bad_alias = {"Alias": {"Type": "AWS::Lambda::Alias", "Properties": {
        "FunctionName": {"Ref": "Fn"}, "FunctionVersion": "42", "Name": "live"}}}
    cfn.create_stack(StackName=name, TemplateBody=json_template(extra=bad_alias))
    stack = wait_stack(cfn, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    failed = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert [e["LogicalResourceId"] for e in failed] == ["Alias"]
    assert failed[0]["ResourceStatusReason"]
    fn = next(e["PhysicalResourceId"] for e in events
              if e["LogicalResourceId"] == "Fn" and e["ResourceStatus"] == "DELETE_COMPLETE")
    assert error_of(lambda: lam.get_function(FunctionName=fn))[0] == "ResourceNotFoundException"
    assert cfn.describe_stack_resources(StackName=name)["StackResources"] == []
    assert error_of(lambda: cfn.update_stack(StackName=name, TemplateBody=json_template()))[0] == "ValidationError"
    cfn.delete_stack(StackName=name)


@pytest.mark.parametrize("body,params,message", [
    ("Resources:\n  A: [1,\n", [], "Template format error: YAML not well-formed."),
    ('{"Resources": ', [], "Template format error: JSON not well-formed."),
    (json.dumps({"Resources": {"A": {"Type": "AWS::Nope::Thing"}}}), [],
     "Template format error: Unrecognized resource types: [AWS::Nope::Thing]"),
    (json.dumps({"Resources": {
        "A": {"Type": "AWS::S3::Bucket", "Properties": {"Tags": [{"Key": "k", "Value": {"Ref": "B"}}]}},
        "B": {"Type": "AWS::S3::Bucket", "DependsOn": "A"}}}), [],
     "Template format error: Circular dependency between resources: [A, B]"),
    (json.dumps({"Parameters": {"P": {"Type": "String"}}, "Resources": {"A": {"Type": "AWS::S3::Bucket"}}}), [],
     "Parameters: [P] must have values"),
    (json.dumps({"Resources": {"A": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Ref": "Missing"}}}}}), [],
     "Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template"),
])
def test_template_errors(server, body, params, message):
    cfn, _ = clients(server)
    code, text = error_of(lambda: cfn.create_stack(StackName=unique("bad"), TemplateBody=body, Parameters=params))
    assert code == "ValidationError"
    assert text.startswith(message), text
    code, text = error_of(lambda: cfn.validate_template(TemplateBody=body)) if "Parameters:" not in message else (code, message)
    assert text.startswith(message), text


def test_unsupported_actions_and_missing_stacks(server):
    cfn, _ = clients(server)
    assert error_of(lambda: cfn.describe_stacks(StackName="nope")) == ("ValidationError", "Stack with id nope does not exist")
    code, _ = error_of(lambda: cfn.list_exports())
    assert code == "InvalidAction"
    summary = cfn.get_template_summary(TemplateBody=YAML_TEMPLATE)
    assert {p["ParameterKey"] for p in summary["Parameters"]} == {"Stage", "Memory"}
    assert summary["Capabilities"] == ["CAPABILITY_IAM"]
    # A SAM template: CreateStack needs CAPABILITY_AUTO_EXPAND, then the transform's own error
    # (test_cloudformation_sam.py has the rest).
    sam = json.dumps({"Transform": "AWS::Serverless-2016-10-31", "Resources": {"F": {"Type": "AWS::Serverless::Function"}}})
    assert error_of(lambda: cfn.create_stack(StackName=unique("sam"), TemplateBody=sam)) == (
        "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_AUTO_EXPAND]")
    assert error_of(lambda: cfn.create_stack(StackName=unique("sam"), TemplateBody=sam,
                                             Capabilities=["CAPABILITY_AUTO_EXPAND"])) == (
        "ValidationError", "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application "
        "Specification document. Number of errors found: 1. Resource with id [F] is invalid. Only one of "
        "'InlineCode' or 'CodeUri' can be set.")


def aws(server, *args, check=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDARCHFN", AWS_SECRET_ACCESS_KEY="archfn-secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL_S3=server.url)
    r = subprocess.run([sys.executable, "-m", "awscli", "--endpoint-url", server.url, *args],
                       env=env, capture_output=True, text=True, timeout=600)
    assert not check or r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def test_aws_cli_deploys_twice(server, tmp_path):
    _, lam = clients(server)
    name = unique("cli")
    template = tmp_path / "template.json"
    template.write_text(json_template())
    first = aws(server, "cloudformation", "deploy", "--stack-name", name, "--template-file", str(template))
    assert "Successfully created/updated stack" in first.stdout, first
    cfn, _ = clients(server)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    fn = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Name"]

    # The CLI v1 fails an empty change set unless told not to.
    again = aws(server, "cloudformation", "deploy", "--stack-name", name, "--template-file", str(template), check=False)
    assert again.returncode == 255 and "No changes to deploy" in again.stderr, again
    time.sleep(1.1)
    again = aws(server, "cloudformation", "deploy", "--stack-name", name, "--template-file", str(template),
                "--no-fail-on-empty-changeset")
    assert "No changes to deploy" in again.stdout, again

    # The CLI names change sets by the second; an empty one is kept, as on CloudFormation.
    time.sleep(1.1)
    # The second template goes through archfn's S3 (TemplateURL, path style).
    bucket = unique("cfn-templates")
    boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDARCHFN",
                 aws_secret_access_key="archfn-secret").create_bucket(Bucket=bucket)
    template.write_text(json_template(CODE.replace("platform.machine()", "'changed'")))
    second = aws(server, "cloudformation", "deploy", "--stack-name", name, "--template-file", str(template),
                 "--parameter-overrides", "Suffix=z", "--s3-bucket", bucket)
    assert "Successfully created/updated stack" in second.stdout, second
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert invoke(lam, fn)["machine"] == "changed"
    change_sets = cfn.list_change_sets(StackName=name)["Summaries"]
    assert any(c["ExecutionStatus"] == "EXECUTE_COMPLETE" for c in change_sets)
    cfn.delete_stack(StackName=name)


def test_stacks_survive_a_restart(python_arm64, tmp_path):
    s = Server(tmp_path / "data").start()
    try:
        cfn, _ = clients(s)
        name = unique("keep")
        cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}))
        assert wait_stack(cfn, name)["StackStatus"] == "CREATE_COMPLETE"
    finally:
        s.stop()
    s.start()
    try:
        cfn, _ = clients(s)
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
        assert events[0]["ResourceStatus"] == "CREATE_COMPLETE"
        bucket = cfn.describe_stack_resource(StackName=name, LogicalResourceId="B")["StackResourceDetail"]["PhysicalResourceId"]
        assert bucket.startswith(name.lower())
    finally:
        s.stop()


def test_code_and_layer_from_s3_with_permission_and_event_invoke_config(server):
    cfn, lam = clients(server)
    s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDARCHFN",
                      aws_secret_access_key="archfn-secret")
    bucket = unique("cfn-code")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="app.zip", Body=make_zip({
        "app.py": "import platform, greeting\ndef handler(e, c):\n    return {'machine': platform.machine(), 'greeting': greeting.HELLO}\n"}))
    s3.put_object(Bucket=bucket, Key="layer.zip", Body=make_zip({"python/greeting.py": "HELLO = 'from a layer'\n"}))
    template = {
        "Resources": {
            "Layer": {"Type": "AWS::Lambda::LayerVersion", "Properties": {
                "Content": {"S3Bucket": bucket, "S3Key": "layer.zip"}, "CompatibleArchitectures": ["arm64"]}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Runtime": "python3.11", "Architectures": ["arm64"], "Handler": "app.handler",
                "Role": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/lambda"},
                "Layers": [{"Ref": "Layer"}], "Code": {"S3Bucket": bucket, "S3Key": "app.zip"}}},
            "Allow": {"Type": "AWS::Lambda::Permission", "Properties": {
                "FunctionName": {"Fn::GetAtt": ["Fn", "Arn"]}, "Action": "lambda:InvokeFunction",
                "Principal": "s3.amazonaws.com", "SourceArn": {"Fn::Sub": "arn:aws:s3:::${Bucket}"}}},
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Async": {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": {
                "FunctionName": {"Ref": "Fn"}, "Qualifier": "$LATEST", "MaximumRetryAttempts": 1}},
        },
        "Outputs": {"Fn": {"Value": {"Ref": "Fn"}}, "Bucket": {"Value": {"Ref": "Bucket"}}},
    }
    name = unique("s3code")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))["StackId"]
    stack = wait_stack(cfn, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures(cfn, name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    fn = outputs["Fn"]
    assert invoke(lam, fn) == {"machine": "aarch64", "greeting": "from a layer"}
    policy = json.loads(lam.get_policy(FunctionName=fn)["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert lam.get_function_event_invoke_config(FunctionName=fn, Qualifier="$LATEST")["MaximumRetryAttempts"] == 1
    assert s3.head_bucket(Bucket=outputs["Bucket"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    layer_arn = lam.get_function_configuration(FunctionName=fn)["Layers"][0]["Arn"]

    cfn.delete_stack(StackName=name)
    assert wait_deleted(cfn, stack_id) == "DELETE_COMPLETE", failures(cfn, stack_id)
    assert error_of(lambda: lam.get_function(FunctionName=fn))[0] == "ResourceNotFoundException"
    assert error_of(lambda: lam.get_layer_version_by_arn(Arn=layer_arn))[0] == "ResourceNotFoundException"
    assert error_of(lambda: s3.head_bucket(Bucket=outputs["Bucket"]))[0] == "404"


def test_a_failing_update_rolls_back_to_the_previous_stack(server):
    cfn, lam = clients(server)
    name = unique("upfail")
    cfn.create_stack(StackName=name, TemplateBody=json_template())
    assert wait_stack(cfn, name)["StackStatus"] == "CREATE_COMPLETE"
    fn = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}["Name"]
    bad_alias = {"Alias": {"Type": "AWS::Lambda::Alias", "Properties": {
        "FunctionName": {"Ref": "Fn"}, "FunctionVersion": "42", "Name": "live"}}}
    cfn.update_stack(StackName=name, TemplateBody=json_template(CODE.replace("platform.machine()", "'new'"), extra=bad_alias),
                     Parameters=[{"ParameterKey": "Suffix", "ParameterValue": "y"}])
    stack = wait_stack(cfn, name)
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE", failures(cfn, name)
    assert [f[0] for f in failures(cfn, name)] == ["Alias"]
    # The function's code is the previous one again, and the outputs and parameters are the previous ones.
    assert invoke(lam, fn)["machine"] == "aarch64"
    assert {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["Suffix"] == "s-x"
    assert [r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName=name)["StackResources"]] == ["Fn"]
    # A stack rolled back after an update can be updated again.
    cfn.update_stack(StackName=name, TemplateBody=json_template(),
                     Parameters=[{"ParameterKey": "Suffix", "ParameterValue": "z"}])
    assert wait_stack(cfn, name)["StackStatus"] == "UPDATE_COMPLETE"
    cfn.delete_stack(StackName=name)


def test_signed_requests_under_auth_sigv4(python_arm64, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = good-secret\n")
    s = Server(tmp_path / "data", ["--auth", "sigv4", "--credentials-file", str(creds)]).start()
    try:
        def cfn(secret):
            return boto3.client("cloudformation", endpoint_url=s.url, region_name="eu-west-1",
                                aws_access_key_id="AKIDGOOD", aws_secret_access_key=secret,
                                config=Config(retries={"max_attempts": 0}))
        good = cfn("good-secret")
        name = unique("signed")
        stack_id = good.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {"B": {"Type": "AWS::S3::Bucket"}}}))["StackId"]
        assert stack_id.startswith("arn:aws:cloudformation:eu-west-1:")
        assert wait_stack(good, name)["StackStatus"] == "CREATE_COMPLETE"
        with pytest.raises(ClientError) as e:
            cfn("wrong-secret").describe_stacks(StackName=name)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        # An unsigned form post is not served as CloudFormation under --auth sigv4.
        import urllib.request
        req = urllib.request.Request(s.url + "/", data=b"Action=DescribeStacks&Version=2010-05-15",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with pytest.raises(urllib.error.HTTPError) as unsigned:
            urllib.request.urlopen(req, timeout=10)
        assert unsigned.value.code in (403, 404)  # Lambda's answer to a path it does not serve
        assert b"DescribeStacksResponse" not in unsigned.value.read()
    finally:
        s.stop()


def test_retained_resources_stay_and_a_failed_deletion_can_be_retried(server):
    cfn, _ = clients(server)
    s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDARCHFN",
                      aws_secret_access_key="archfn-secret")
    name = unique("retain")
    stack_id = cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {
        "Kept": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain"},
        "Full": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {"Kept": {"Value": {"Ref": "Kept"}}, "Full": {"Value": {"Ref": "Full"}}}}))["StackId"]
    stack = wait_stack(cfn, name)
    buckets = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    s3.put_object(Bucket=buckets["Full"], Key="k", Body=b"x")

    cfn.delete_stack(StackName=name)
    assert wait_deleted(cfn, stack_id) == "DELETE_FAILED"
    failed = dict(failures(cfn, stack_id))
    assert failed[name] == "The following resource(s) failed to delete: [Full]. "
    assert "not empty" in failed["Full"]
    s3.delete_object(Bucket=buckets["Full"], Key="k")
    cfn.delete_stack(StackName=stack_id)
    assert wait_deleted(cfn, stack_id) == "DELETE_COMPLETE"
    assert error_of(lambda: s3.head_bucket(Bucket=buckets["Full"]))[0] == "404"
    assert s3.head_bucket(Bucket=buckets["Kept"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    skipped = [e["LogicalResourceId"] for e in cfn.describe_stack_events(StackName=stack_id)["StackEvents"]
               if e["ResourceStatus"] == "DELETE_SKIPPED"]
    assert "Kept" in skipped
