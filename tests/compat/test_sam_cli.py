"""The real AWS SAM CLI (aws-sam-cli from PyPI, in its own venv `.venv-sam`, since it pins another boto3)
against archfn's one endpoint through `AWS_ENDPOINT_URL`: `sam build`, `sam deploy --resolve-s3` of an arm64
Python function with a layer and an alias, a second deploy whose `DeploymentPreference` shifts traffic
(sped up through `ARCHFN_DEPLOY_TIME_SCALE`) and a third that rolls back, `sam logs`, `sam delete`;
`aws cloudformation deploy` of a plain template with code uploaded by `aws s3 cp` in parts."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import REPO, Server

SAM = REPO / ".venv-sam" / "bin" / "sam"
AWS = Path(sys.executable).parent / "aws"

pytestmark = [
    pytest.mark.skipif(not SAM.exists(), reason="aws-sam-cli is installed by scripts/setup.sh --test"),
]

# Every interval of CodeDeploy's predefined configurations times this: Canary10Percent5Minutes holds
# its 10% for 5 min * 0.02 = 6 s.
TIME_SCALE = "0.02"

TEMPLATE = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: an arm64 function with a layer and an alias
Globals:
  Function:
    Timeout: 10
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.11]
      CompatibleArchitectures: [arm64]
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      Architectures: [arm64]
      Layers: [!Ref Shared]
      AutoPublishAlias: live
%PREFERENCE%
Outputs:
  HelloArn:
    Value: !GetAtt Hello.Arn
"""

APP = """import platform
import shared
def handler(event, context):
    print("hello from", platform.machine(), "%MARK%")
    %FAIL%
    return {"machine": platform.machine(), "shared": shared.VALUE, "mark": "%MARK%"}
"""


@pytest.fixture(scope="module")
def server(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-sam-") as d:
        old = os.environ.get("ARCHFN_DEPLOY_TIME_SCALE")
        os.environ["ARCHFN_DEPLOY_TIME_SCALE"] = TIME_SCALE
        try:
            s = Server(Path(d) / "data").start()
        finally:
            if old is None:
                os.environ.pop("ARCHFN_DEPLOY_TIME_SCALE", None)
            else:
                os.environ["ARCHFN_DEPLOY_TIME_SCALE"] = old
        yield s
        s.stop()


def tool_env(server) -> dict:
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=server.url,
        AWS_ACCESS_KEY_ID="AKIDARCHFN",
        AWS_SECRET_ACCESS_KEY="archfn-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        SAM_CLI_TELEMETRY="0",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    env.pop("AWS_PROFILE", None)
    return env


def run(cmd, server, cwd, check=True, timeout=300):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=tool_env(server), capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd[:2]} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def client(server, service):
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="AKIDARCHFN",
                        aws_secret_access_key="archfn-secret", config=Config(retries={"max_attempts": 0}))


def write_app(root: Path, mark: str, fail: bool = False, preference: str = ""):
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "layer" / "python").mkdir(parents=True, exist_ok=True)
    (root / "template.yaml").write_text(TEMPLATE.replace("%PREFERENCE%", preference))
    (root / "src" / "app.py").write_text(
        APP.replace("%MARK%", mark).replace("%FAIL%", "raise RuntimeError('broken ' + '%s')" % mark if fail else "pass"))
    (root / "layer" / "python" / "shared.py").write_text('VALUE = "layer-1"\n')


def build_and_deploy(server, app: Path, stack: str, check=True):
    run([SAM, "build"], server, app)
    return run([SAM, "deploy", "--resolve-s3", "--stack-name", stack, "--capabilities", "CAPABILITY_IAM",
                "--no-confirm-changeset", "--no-fail-on-empty-changeset", "--region", "us-east-1"],
               server, app, check=check, timeout=600)


def alias_of(server, stack):
    cfn = client(server, "cloudformation")
    resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    fn = next(r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Lambda::Function")
    return fn, client(server, "lambda").get_alias(FunctionName=fn, Name="live")


def invoke_live(server, fn):
    out = client(server, "lambda").invoke(FunctionName=fn, Qualifier="live", Payload=b"{}")
    return out, json.loads(out["Payload"].read())


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return tmp_path_factory.mktemp("sam-app")


def test_sam_build_and_deploy_an_arm64_function_with_a_layer_and_an_alias(server, app):
    write_app(app, "v1")
    out = build_and_deploy(server, app, "sam-hello")
    assert "Successfully created/updated stack - sam-hello" in out.stdout + out.stderr
    cfn = client(server, "cloudformation")
    assert cfn.describe_stacks(StackName="sam-hello")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    # --resolve-s3's managed stack holds the bucket the artifacts went to.
    managed = cfn.describe_stacks(StackName="aws-sam-cli-managed-default")["Stacks"][0]
    assert managed["StackStatus"] == "CREATE_COMPLETE"
    fn, alias = alias_of(server, "sam-hello")
    conf = client(server, "lambda").get_function_configuration(FunctionName=fn, Qualifier="live")
    assert conf["Architectures"] == ["arm64"]
    assert len(conf["Layers"]) == 1
    res, body = invoke_live(server, fn)
    assert body == {"machine": "aarch64", "shared": "layer-1", "mark": "v1"}
    assert res["ResponseMetadata"]["HTTPHeaders"].get("x-archfn-execution") in ("emulated", "native")


def test_deployment_preference_shifts_traffic_then_rolls_back_a_failing_version(server, app):
    preference = "      DeploymentPreference:\n        Type: Canary10Percent5Minutes\n"
    fn, before = alias_of(server, "sam-hello")
    write_app(app, "v2", preference=preference)

    seen_weights = []
    marks = []
    stop = threading.Event()

    def watch():
        lam = client(server, "lambda")
        while not stop.is_set():
            a = lam.get_alias(FunctionName=fn, Name="live")
            weights = a.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
            if weights:
                seen_weights.append(weights)
            try:
                res, body = invoke_live(server, fn)
                marks.append("error" if "FunctionError" in res else body.get("mark"))
            except Exception:  # noqa: BLE001 - a failing version's answer is not a dict
                marks.append("error")
            time.sleep(0.02)

    def traffic():
        """Three callers of the alias while a deploy runs: with 10% of the traffic on the new version
        for 6 s, some of it reaches the new version (one caller alone may miss it on a busy machine)."""
        threads = [threading.Thread(target=watch) for _ in range(3)]
        for t in threads:
            t.start()
        return threads

    threads = traffic()
    try:
        build_and_deploy(server, app, "sam-hello")
    finally:
        stop.set()
        for t in threads:
            t.join()
    _, after = alias_of(server, "sam-hello")
    assert after["FunctionVersion"] != before["FunctionVersion"]
    assert not after.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert any(abs(w.get(after["FunctionVersion"], 0) - 0.1) < 1e-9 for w in seen_weights), seen_weights
    assert "v1" in marks and "v2" in marks
    assert invoke_live(server, fn)[1]["mark"] == "v2"

    # A version that fails: the shift's guardrail sees its errors and the stack update rolls back.
    write_app(app, "v3", fail=True, preference=preference)
    stop.clear()
    marks.clear()
    threads = traffic()
    try:
        out = build_and_deploy(server, app, "sam-hello", check=False)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert "error" in marks, marks
    assert out.returncode != 0, out.stdout
    cfn = client(server, "cloudformation")
    assert cfn.describe_stacks(StackName="sam-hello")["Stacks"][0]["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    _, rolled = alias_of(server, "sam-hello")
    assert rolled["FunctionVersion"] == after["FunctionVersion"]
    assert not rolled.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    assert invoke_live(server, fn)[1]["mark"] == "v2"
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName="sam-hello")["StackEvents"]]
    assert any("deployment" in r.lower() for r in reasons), reasons


def test_sam_logs_shows_the_functions_lines(server, app):
    fn, _ = alias_of(server, "sam-hello")
    invoke_live(server, fn)
    deadline = time.time() + 30
    while True:
        out = run([SAM, "logs", "--stack-name", "sam-hello", "-n", "Hello", "--region", "us-east-1"], server, app)
        if "hello from aarch64" in out.stdout or time.time() > deadline:
            break
        time.sleep(1)
    assert "hello from aarch64" in out.stdout, out.stdout + out.stderr
    assert "REPORT RequestId" in out.stdout


def test_sam_delete_removes_the_stack_and_its_function(server, app):
    fn, _ = alias_of(server, "sam-hello")
    run([SAM, "delete", "--stack-name", "sam-hello", "--no-prompts", "--region", "us-east-1"], server, app)
    cfn = client(server, "cloudformation")
    names = [s["StackName"] for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert "sam-hello" not in names
    with pytest.raises(client(server, "lambda").exceptions.ResourceNotFoundException):
        client(server, "lambda").get_function(FunctionName=fn)


PLAIN = """AWSTemplateFormatVersion: '2010-09-09'
Parameters:
  Bucket: {Type: String}
  Key: {Type: String}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.11
      Handler: big.handler
      Role: !GetAtt Role.Arn
      Code: {S3Bucket: !Ref Bucket, S3Key: !Ref Key}
Outputs:
  Name: {Value: !Ref Fn}
"""


def test_cloudformation_deploy_with_code_uploaded_in_parts_by_aws_s3_cp(server, tmp_path):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("big.py", "def handler(event, context):\n    return {'ok': True}\n")
        z.writestr("padding.bin", os.urandom(9 * 1024 * 1024))
    (tmp_path / "code.zip").write_bytes(buf.getvalue())
    (tmp_path / "template.yaml").write_text(PLAIN)
    run([AWS, "s3", "mb", "s3://plain-code"], server, tmp_path)
    run([AWS, "s3", "cp", tmp_path / "code.zip", "s3://plain-code/code.zip"], server, tmp_path)
    head = client(server, "s3").head_object(Bucket="plain-code", Key="code.zip")
    assert head["ETag"].strip('"').endswith("-2")  # uploaded in two parts
    run([AWS, "cloudformation", "deploy", "--stack-name", "plain", "--template-file", tmp_path / "template.yaml",
         "--capabilities", "CAPABILITY_IAM", "--parameter-overrides", "Bucket=plain-code", "Key=code.zip"],
        server, tmp_path)
    cfn = client(server, "cloudformation")
    outputs = cfn.describe_stacks(StackName="plain")["Stacks"][0]["Outputs"]
    name = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "Name")
    lam = client(server, "lambda")
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    body = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert body == {"ok": True}
