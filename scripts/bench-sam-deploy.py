#!/usr/bin/env python3
"""Time of `sam deploy` of a one-function stack against archfn, from the command to the function being
Active (issue 14). Starts its own `archfn serve` (ARCHFN_BIN, default target/release/archfn) on a
fresh data directory, deploys ROUNDS new stacks one after another (each `sam deploy --resolve-s3` of a
python3.11 arm64 function, code packaged and uploaded by sam), waits for GetFunction's State Active,
then deletes the stack. The first round also creates sam's managed stack and bucket; it is reported
apart. Prints a Markdown table. Usage: scripts/bench-sam-deploy.py [ROUNDS]"""

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parent.parent
SAM = REPO / ".venv-sam" / "bin" / "sam"
BIN = os.environ.get("ARCHFN_BIN", str(REPO / "target" / "release" / "archfn"))
RUNTIMES = os.environ.get("ARCHFN_TEST_RUNTIMES", str(REPO / "target" / "test-runtimes"))
TEMPLATE = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.11
      Architectures: [arm64]
"""


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    port = 19400 + os.getpid() % 500
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="bench-sam-") as d:
        d = Path(d)
        server = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(d / "data"),
                                   "--runtimes-dir", RUNTIMES], stdout=subprocess.DEVNULL,
                                  stderr=open(d / "server.log", "wb"))
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="x",
                       AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0", AWS_CONFIG_FILE="/dev/null",
                       AWS_SHARED_CREDENTIALS_FILE="/dev/null")
            lam = boto3.client("lambda", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDBENCH",
                               aws_secret_access_key="x")
            cfn = boto3.client("cloudformation", endpoint_url=url, region_name="us-east-1",
                               aws_access_key_id="AKIDBENCH", aws_secret_access_key="x")
            app = d / "app"
            (app / "src").mkdir(parents=True)
            (app / "template.yaml").write_text(TEMPLATE)
            times = []
            for i in range(rounds + 1):
                (app / "src" / "app.py").write_text(f"def handler(event, context):\n    return {i}\n")
                stack = f"bench-{i}"
                started, started_wall = time.monotonic(), time.time()
                subprocess.run([SAM, "deploy", "--resolve-s3", "--stack-name", stack, "--capabilities",
                                "CAPABILITY_IAM", "--no-confirm-changeset", "--region", "us-east-1"], cwd=app,
                               env=env, check=True, capture_output=True)
                deployed = time.monotonic()
                fn = next(r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
                          if r["ResourceType"] == "AWS::Lambda::Function")
                while lam.get_function(FunctionName=fn)["Configuration"]["State"] != "Active":
                    time.sleep(0.02)
                active = time.monotonic()
                # When the server finished the stack: its CREATE_COMPLETE event, on the same clock.
                events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
                done = next(e["Timestamp"].timestamp() for e in events
                            if e["LogicalResourceId"] == stack and e["ResourceStatus"] == "CREATE_COMPLETE")
                times.append((done - started_wall, deployed - started, active - started))
                print(f"round {i}: stack complete at {done - started_wall:.2f} s, sam deploy returned at "
                      f"{deployed - started:.2f} s, Active seen at {active - started:.2f} s", file=sys.stderr)
                cfn.delete_stack(StackName=stack)
                while any(s["StackName"] == stack and s["StackStatus"] != "DELETE_COMPLETE"
                          for s in cfn.list_stacks()["StackSummaries"]):
                    time.sleep(0.1)
        finally:
            server.terminate()
            server.wait()
    first, rest = times[0], times[1:]
    print("| rounds | stack CREATE_COMPLETE (s) | `sam deploy` returns (s) | function Active seen (s) |")
    print("|---|---|---|---|")
    print(f"| first (also creates sam's managed stack and bucket) | "
          + " | ".join(f"{x:.2f}" for x in first) + " |")
    cols = list(zip(*rest))
    print(f"| next {len(rest)}, median | " + " | ".join(f"{statistics.median(c):.2f}" for c in cols) + " |")
    print(f"| next {len(rest)}, min–max | " + " | ".join(f"{min(c):.2f}–{max(c):.2f}" for c in cols) + " |")


if __name__ == "__main__":
    main()
