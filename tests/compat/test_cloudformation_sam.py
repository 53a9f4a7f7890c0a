"""SAM templates (`Transform: AWS::Serverless-2016-10-31`) in archfn's CloudFormation through boto3:
CAPABILITY_AUTO_EXPAND for CreateStack, the expanded resources in a change set, a failed transform as the
change set's status, GetTemplate's stages and GetTemplateSummary's transforms, code from archfn's S3, and a
`DeploymentPreference` whose alias update is a real traffic shift (sped up by `--deploy-time-scale`) that
completes, then rolls the stack update back when the new version fails."""

import io
import json
import subprocess
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import RUNTIMES_DIR, Server, archfn_bin

BUCKET = "sam-code"

TEMPLATE = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: a SAM function with an alias
Globals:
  Function:
    Timeout: 10
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: s3://sam-code/%KEY%
      Handler: app.handler
      Runtime: python3.11
      Architectures: [arm64]
      AutoPublishAlias: live
%PREFERENCE%
Outputs:
  Name:
    Value: !Ref Hello
"""

CANARY = "      DeploymentPreference:\n        Type: Canary10Percent5Minutes\n"


def app_zip(mark: str, fail: bool = False) -> bytes:
    body = "raise RuntimeError('broken %s')" % mark if fail else "return {'mark': '%s'}" % mark
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    %s\n" % body)
    return buf.getvalue()


def template(key: str, preference: str = "") -> str:
    return TEMPLATE.replace("%KEY%", key).replace("%PREFERENCE%", preference)


@pytest.fixture(scope="module")
def python_arm64():
    """The one runtime these stacks use (installing it does nothing when it is installed)."""
    subprocess.run([archfn_bin(), "runtime", "install", "python3.11", "--arch", "arm64", "--runtimes-dir",
                    str(RUNTIMES_DIR)], check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def server(python_arm64):
    with tempfile.TemporaryDirectory(prefix="archfn-cfn-sam-") as d:
        s = Server(Path(d) / "data", ["--deploy-time-scale", "0.02"]).start()
        yield s
        s.stop()


def client(server, service):
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDARCHFN",
                        aws_secret_access_key="archfn-secret",
                        config=Config(retries={"max_attempts": 0}, read_timeout=120))


@pytest.fixture(scope="module")
def code(server):
    s3 = client(server, "s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="v1.zip", Body=app_zip("v1"))
    s3.put_object(Bucket=BUCKET, Key="v2.zip", Body=app_zip("v2"))
    s3.put_object(Bucket=BUCKET, Key="v3.zip", Body=app_zip("v3", fail=True))
    return BUCKET


def wait_stack(cfn, name, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            return stack
        time.sleep(0.3)
    raise AssertionError(f"stack {name} still in progress")


def wait_change_set(cfn, stack, name, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        cs = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        if cs["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            return cs
        time.sleep(0.2)
    raise AssertionError("change set still being made")


def test_create_stack_with_a_transform_needs_auto_expand(server, code):
    cfn = client(server, "cloudformation")
    with pytest.raises(ClientError) as e:
        cfn.create_stack(StackName="sam-direct", TemplateBody=template("v1.zip"), Capabilities=["CAPABILITY_IAM"])
    assert e.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    assert e.value.response["Error"]["Message"] == "Requires capabilities : [CAPABILITY_AUTO_EXPAND]"
    with pytest.raises(ClientError):
        cfn.describe_stacks(StackName="sam-direct")
    # With the capability the stack is made directly from the processed template.
    cfn.create_stack(StackName="sam-direct", TemplateBody=template("v1.zip"),
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    assert wait_stack(cfn, "sam-direct")["StackStatus"] == "CREATE_COMPLETE"
    cfn.delete_stack(StackName="sam-direct")


def test_a_change_set_lists_the_expanded_resources_and_runs_them(server, code):
    cfn = client(server, "cloudformation")
    created = cfn.create_change_set(StackName="sam-app", ChangeSetName="first", ChangeSetType="CREATE",
                                    TemplateBody=template("v1.zip"), Capabilities=["CAPABILITY_IAM"])
    cs = wait_change_set(cfn, "sam-app", "first")
    assert cs["Status"] == "CREATE_COMPLETE", cs.get("StatusReason")
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["ResourceType"] for c in cs["Changes"]}
    assert changes["Hello"] == "AWS::Lambda::Function"
    assert changes["HelloRole"] == "AWS::IAM::Role"
    assert changes["HelloAliaslive"] == "AWS::Lambda::Alias"
    versions = [k for k, v in changes.items() if v == "AWS::Lambda::Version"]
    assert len(versions) == 1 and versions[0].startswith("HelloVersion"), changes

    original = cfn.get_template(ChangeSetName=created["Id"], TemplateStage="Original")
    assert original["TemplateBody"].startswith("AWSTemplateFormatVersion")
    assert "Transform: AWS::Serverless-2016-10-31" in original["TemplateBody"]
    processed = cfn.get_template(ChangeSetName=created["Id"], TemplateStage="Processed")
    assert processed["StagesAvailable"] == ["Original", "Processed"]
    body = processed["TemplateBody"]
    body = body if isinstance(body, dict) else json.loads(body)
    assert "Transform" not in body and "Globals" not in body
    assert body["Resources"]["Hello"]["Properties"]["Code"] == {"S3Bucket": BUCKET, "S3Key": "v1.zip"}
    assert body["Resources"]["Hello"]["Properties"]["Timeout"] == 10

    summary = cfn.get_template_summary(TemplateBody=template("v1.zip"))
    assert summary["DeclaredTransforms"] == ["AWS::Serverless-2016-10-31"]
    assert "AWS::Serverless::Function" in summary["ResourceTypes"]

    cfn.execute_change_set(ChangeSetName=created["Id"])
    stack = wait_stack(cfn, "sam-app")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    fn = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "Name")
    lam = client(server, "lambda")
    conf = lam.get_function_configuration(FunctionName=fn, Qualifier="live")
    assert conf["Architectures"] == ["arm64"] and conf["Timeout"] == 10
    out = json.loads(lam.invoke(FunctionName=fn, Qualifier="live", Payload=b"{}")["Payload"].read())
    assert out == {"mark": "v1"}
    stack_processed = cfn.get_template(StackName="sam-app", TemplateStage="Processed")["TemplateBody"]
    stack_processed = stack_processed if isinstance(stack_processed, dict) else json.loads(stack_processed)
    assert "HelloAliaslive" in stack_processed["Resources"]
    assert "Transform" in cfn.get_template(StackName="sam-app")["TemplateBody"]


def test_a_failed_transform_fails_the_change_set(server, code):
    cfn = client(server, "cloudformation")
    bad = template("v1.zip").replace("CodeUri: s3://sam-code/v1.zip", "CodeUri: src/")
    cfn.create_change_set(StackName="sam-bad", ChangeSetName="bad", ChangeSetType="CREATE", TemplateBody=bad,
                          Capabilities=["CAPABILITY_IAM"])
    cs = wait_change_set(cfn, "sam-bad", "bad")
    assert cs["Status"] == "FAILED"
    assert cs["ExecutionStatus"] == "UNAVAILABLE"
    assert cs["StatusReason"] == (
        "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification document. "
        "Number of errors found: 1. Resource with id [Hello] is invalid. 'CodeUri' is not a valid S3 Uri of the form "
        "'s3://bucket/key' with optional versionId query parameter.")
    assert cs["Changes"] == []
    assert cfn.describe_stacks(StackName="sam-bad")["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    with pytest.raises(ClientError) as e:
        cfn.execute_change_set(StackName="sam-bad", ChangeSetName="bad")
    assert e.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    # The role SAM makes needs CAPABILITY_IAM: without it the change set fails likewise.
    cfn.create_change_set(StackName="sam-bad", ChangeSetName="noiam", ChangeSetType="CREATE",
                          TemplateBody=template("v1.zip"))
    cs = wait_change_set(cfn, "sam-bad", "noiam")
    assert (cs["Status"], cs["StatusReason"]) == ("FAILED", "Requires capabilities : [CAPABILITY_IAM]")
    # UpdateStack refuses a failing transform at once.
    with pytest.raises(ClientError) as e:
        cfn.update_stack(StackName="sam-app", TemplateBody=bad,
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert e.value.response["Error"]["Message"].startswith("Transform AWS::Serverless-2016-10-31 failed with: ")


class Traffic:
    """Invokes the alias from two threads and watches its routing, while a stack update runs."""

    def __init__(self, server, fn):
        self.server, self.fn = server, fn
        self.weights, self.marks, self.stop = [], [], threading.Event()
        self.threads = [threading.Thread(target=self.invoke) for _ in range(2)] + [threading.Thread(target=self.watch)]

    def invoke(self):
        lam = client(self.server, "lambda")
        while not self.stop.is_set():
            out = lam.invoke(FunctionName=self.fn, Qualifier="live", Payload=b"{}")
            body = json.loads(out["Payload"].read())
            self.marks.append("error" if "FunctionError" in out else body.get("mark"))
            time.sleep(0.05)

    def watch(self):
        lam = client(self.server, "lambda")
        while not self.stop.is_set():
            routing = lam.get_alias(FunctionName=self.fn, Name="live").get("RoutingConfig", {})
            if routing.get("AdditionalVersionWeights"):
                self.weights.append(routing["AdditionalVersionWeights"])
            time.sleep(0.2)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def stack_function(cfn, name):
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    return next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "Name")


def test_deployment_preference_shifts_traffic_then_rolls_a_failing_version_back(server, code):
    cfn, lam = client(server, "cloudformation"), client(server, "lambda")
    fn = stack_function(cfn, "sam-app")
    before = lam.get_alias(FunctionName=fn, Name="live")["FunctionVersion"]

    with Traffic(server, fn) as traffic:
        started = time.time()
        cfn.update_stack(StackName="sam-app", TemplateBody=template("v2.zip", CANARY),
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
        time.sleep(2)
        assert cfn.describe_stacks(StackName="sam-app")["Stacks"][0]["StackStatus"] == "UPDATE_IN_PROGRESS"
        stack = wait_stack(cfn, "sam-app")
        took = time.time() - started
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    # Canary10Percent5Minutes at a time scale of 0.02: 10% for 6 s, then all.
    assert 6 <= took < 90, took
    alias = lam.get_alias(FunctionName=fn, Name="live")
    new = alias["FunctionVersion"]
    assert new != before and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert any(abs(w.get(new, 0) - 0.1) < 1e-9 for w in traffic.weights), traffic.weights
    assert "v1" in traffic.marks and "v2" in traffic.marks
    resources = {r["LogicalResourceId"]: r for r in cfn.describe_stack_resources(StackName="sam-app")["StackResources"]}
    assert resources["ServerlessDeploymentApplication"]["ResourceType"] == "AWS::CodeDeploy::Application"
    assert resources["HelloDeploymentGroup"]["ResourceType"] == "AWS::CodeDeploy::DeploymentGroup"
    assert resources["CodeDeployServiceRole"]["ResourceType"] == "AWS::IAM::Role"
    assert resources["HelloDeploymentGroup"]["PhysicalResourceId"].startswith("sam-app-HelloDeploymentGroup-")
    # The version SAM published before is kept (DeletionPolicy: Retain).
    assert lam.get_function_configuration(FunctionName=fn, Qualifier=before)["Version"] == before

    # A version whose invocations fail: the shift's guardrail rolls it back, and the stack update with it.
    with Traffic(server, fn) as traffic:
        cfn.update_stack(StackName="sam-app", TemplateBody=template("v3.zip", CANARY),
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
        stack = wait_stack(cfn, "sam-app")
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "error" in traffic.marks
    alias = lam.get_alias(FunctionName=fn, Name="live")
    assert alias["FunctionVersion"] == new
    assert not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert json.loads(lam.invoke(FunctionName=fn, Qualifier="live", Payload=b"{}")["Payload"].read()) == {"mark": "v2"}
    assert json.loads(lam.invoke(FunctionName=fn, Payload=b"{}")["Payload"].read()) == {"mark": "v2"}
    events = cfn.describe_stack_events(StackName="sam-app")["StackEvents"]
    failed = [e for e in events if e["LogicalResourceId"] == "HelloAliaslive" and e["ResourceStatus"] == "UPDATE_FAILED"]
    assert failed and failed[0]["ResourceStatusReason"].startswith("Deployment d-"), failed
    assert "error rate" in failed[0]["ResourceStatusReason"]
    statuses = [e["ResourceStatus"] for e in events if e["ResourceType"] == "AWS::CloudFormation::Stack"]
    assert statuses[:3] == ["UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                            "UPDATE_ROLLBACK_IN_PROGRESS"], statuses

    cfn.delete_stack(StackName="sam-app")
    wait_stack_gone(cfn, "sam-app")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=fn)


def wait_stack_gone(cfn, name, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        live = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
        if name not in live:
            return
        time.sleep(0.3)
    raise AssertionError(f"stack {name} not deleted")
