"""Public sample templates (aws-samples/serverless-patterns, unmodified: see
sam-templates/aws-samples/README.md) deployed with the real SAM CLI against archfn, then used as their
READMEs say: each template is copied beside its own code, `sam deploy --resolve-s3` deploys it, boto3
invokes what it made, `sam delete` removes it."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REPO
from test_sam_cli import SAM, client, run, server  # noqa: F401 (the module's server fixture)

SAMPLES = REPO / "tests" / "compat" / "sam-templates" / "aws-samples"

pytestmark = pytest.mark.skipif(not SAM.exists(), reason="aws-sam-cli is installed by scripts/setup.sh --test")


def deploy_sample(server, tmp_path: Path, template: str, code: str | None, stack: str) -> dict:
    """Lays out the pattern as its repository does (template.yaml beside the code), deploys it with
    `sam deploy`, and answers the stack's outputs."""
    app = tmp_path / stack
    if code is not None:
        shutil.copytree(SAMPLES / "code" / code, app)
    else:
        app.mkdir()
    shutil.copy(SAMPLES / template, app / "template.yaml")
    out = run([SAM, "deploy", "--resolve-s3", "--stack-name", stack, "--capabilities", "CAPABILITY_IAM",
               "--no-confirm-changeset", "--no-fail-on-empty-changeset", "--region", "us-east-1"],
              server, app, timeout=600)
    assert f"Successfully created/updated stack - {stack}" in out.stdout + out.stderr
    described = client(server, "cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def delete_sample(server, tmp_path: Path, stack: str, functions: list[str]):
    run([SAM, "delete", "--stack-name", stack, "--no-prompts", "--region", "us-east-1"], server, tmp_path)
    lam = client(server, "lambda")
    for fn in functions:
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_function(FunctionName=fn)


def test_lambda_pattern_a_nodejs_function_with_its_memory_and_storage(server, tmp_path):
    outputs = deploy_sample(server, tmp_path, "lambda.yaml", "lambda", "pattern-lambda")
    name = outputs["SimpleFunctionName"]
    lam = client(server, "lambda")
    conf = lam.get_function_configuration(FunctionName=name)
    assert (conf["Runtime"], conf["MemorySize"], conf["EphemeralStorage"]["Size"]) == ("nodejs24.x", 512, 512)
    assert conf["Architectures"] == ["x86_64"]
    assert outputs["SimpleFunctionARN"] == conf["FunctionArn"]
    # The pattern's successEvent.json is {"name": ...}; the handler greets it.
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"name": "archfn"}).encode())
    assert "FunctionError" not in out
    assert json.loads(out["Payload"].read()) == "Hello archfn, from Lambda"
    delete_sample(server, tmp_path, "pattern-lambda", [name])


def test_lambda_function_url_pattern_answers_a_signed_request(server, tmp_path):
    outputs = deploy_sample(server, tmp_path, "lambda-function-url.yaml", "lambda-function-url", "pattern-furl")
    url = outputs["FunctionURLEndpoint"]
    lam = client(server, "lambda")
    fn = next(f["FunctionName"] for f in lam.list_functions()["Functions"] if "FURLFunction" in f["FunctionName"])
    config = lam.get_function_url_config(FunctionName=fn)
    assert config["AuthType"] == "AWS_IAM" and config["Cors"]["AllowOrigins"] == ["*"]
    assert config["FunctionUrl"] == url
    # AWS_IAM: an unsigned request is refused, a SigV4-signed one (service lambda) runs the function.
    # curl, since it resolves `*.localhost` to the loopback address itself.
    def curl(*headers):
        args = [a for h in headers for a in ("-H", h)]
        out = subprocess.run(["curl", "-sS", "--max-time", "60", "-w", "\n%{http_code}", *args, url],
                             capture_output=True, check=True).stdout
        body, _, status = out.rpartition(b"\n")
        return int(status), body

    assert curl()[0] == 403
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDARCHFN", "archfn-secret"), "lambda", "us-east-1").add_auth(request)
    assert curl(*(f"{k}: {v}" for k, v in request.headers.items())) == (200, b"Hello World")
    delete_sample(server, tmp_path, "pattern-furl", [fn])


def test_lambda_streaming_pattern_streams_its_chunks(server, tmp_path):
    outputs = deploy_sample(server, tmp_path, "lambda-streaming-sdk-sam.yaml", "lambda-streaming-sdk-sam",
                            "pattern-streaming")
    lam = client(server, "lambda")
    happy = outputs["HappyPathFunction"].rsplit(":", 1)[-1]
    started = time.monotonic()
    r = lam.invoke_with_response_stream(FunctionName=happy, Payload=b"{}")
    chunks, arrivals = [], []
    for event in r["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
            arrivals.append(time.monotonic() - started)
        assert "InvokeComplete" not in event or "ErrorCode" not in event["InvokeComplete"]
    assert b"".join(chunks) == b"Thisfunctionisstreamingtheresponsebackandnowitisfinished!"
    # Written every 500 ms: the chunks arrive as written, not all at the end.
    assert len(chunks) > 1 and arrivals[-1] - arrivals[0] > 2.0
    # The pattern's TimeoutFunction streams for 6 s with a 1 s timeout: the stream ends in an error.
    timeout_fn = next(f["FunctionName"] for f in lam.list_functions()["Functions"]
                      if "TimeoutFunction" in f["FunctionName"])
    assert lam.get_function_configuration(FunctionName=timeout_fn)["Timeout"] == 1
    ended = [e for e in lam.invoke_with_response_stream(FunctionName=timeout_fn, Payload=b"{}")["EventStream"]
             if "InvokeComplete" in e]
    assert ended and ended[-1]["InvokeComplete"].get("ErrorCode")
    delete_sample(server, tmp_path, "pattern-streaming", [happy, timeout_fn])


def test_lambda_version_alias_pattern_publishes_version_1_behind_alias_dev(server, tmp_path):
    deploy_sample(server, tmp_path, "lambda-version-alias.yaml", None, "pattern-alias")
    lam = client(server, "lambda")
    fn = next(f["FunctionName"] for f in lam.list_functions()["Functions"]
              if "lambdaFunctionAlias" in f["FunctionName"])
    alias = lam.get_alias(FunctionName=fn, Name="dev")
    assert alias["FunctionVersion"] == "1"
    version = lam.get_function_configuration(FunctionName=fn, Qualifier="1")
    assert (version["Runtime"], version["Description"], version["Handler"]) == ("python3.14", "1", "index.handler")
    # InlineCode is the function's index.py.
    code = lam.get_function(FunctionName=fn, Qualifier="dev")["Code"]
    assert code["RepositoryType"] == "S3"
    delete_sample(server, tmp_path, "pattern-alias", [fn])
