"""A round trip through the AWS CLI (`awscli` from PyPI), unmodified, with --endpoint-url."""

import json
import os
import shutil
import subprocess
import sys


from conftest import ROLE, make_zip, unique


def aws(server, tmp_path, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDCLI", AWS_SECRET_ACCESS_KEY="cli-secret", AWS_DEFAULT_REGION="us-west-2",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    exe = shutil.which("aws")
    cmd = [exe] if exe else [sys.executable, "-m", "awscli"]
    out = subprocess.run([*cmd, "lambda", *args, "--endpoint-url", server.url, "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=120)
    return out


def test_cli_round_trip(server, tmp_path):
    name = unique("cli")
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(make_zip())
    r = aws(server, tmp_path, "create-function", "--function-name", name, "--runtime", "python3.12", "--role", ROLE,
            "--handler", "lambda_function.handler", "--zip-file", f"fileb://{zip_path}", "--architectures", "arm64")
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert created["Architectures"] == ["arm64"] and created["FunctionArn"].startswith("arn:aws:lambda:us-west-2:")
    r = aws(server, tmp_path, "wait", "function-active-v2", "--function-name", name)
    assert r.returncode == 0, r.stderr
    r = aws(server, tmp_path, "get-function-configuration", "--function-name", name)
    assert json.loads(r.stdout)["State"] == "Active"
    r = aws(server, tmp_path, "publish-version", "--function-name", name)
    assert json.loads(r.stdout)["Version"] == "1"
    r = aws(server, tmp_path, "list-versions-by-function", "--function-name", name)
    assert [v["Architectures"] for v in json.loads(r.stdout)["Versions"]] == [["arm64"], ["arm64"]]
    r = aws(server, tmp_path, "get-function", "--function-name", "nope")
    assert r.returncode != 0 and "ResourceNotFoundException" in r.stderr
    r = aws(server, tmp_path, "delete-function", "--function-name", name)
    assert r.returncode == 0, r.stderr
