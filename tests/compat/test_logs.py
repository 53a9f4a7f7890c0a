"""CloudWatch Logs on archfn's endpoint: functions' lines in `/aws/lambda/NAME` (or their
`LoggingConfig.LogGroup`), a stream per execution environment named as Lambda names it, read
with boto3's `logs` client, the AWS CLI (v1 here: `filter-log-events`, `get-log-events`; `aws
logs tail` is CLI v2 only, not on PyPI, so its calls are replayed) and `archfn logs`; STS
GetCallerIdentity; AWS's errors."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import Server, archfn_bin, create, make_zip, unique

APP = """
import time
def handler(event, context):
    for line in event.get("lines", []):
        print(line)
    time.sleep(event.get("sleep", 0))
    return "ok"
"""

STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[(\$LATEST|\d+)\][0-9a-f]{32}$")
AWS = str(Path(sys.executable).parent / "aws")


def client(server, service, key="AKIDARCHFN", secret="archfn-secret", region="us-east-1"):
    return boto3.client(service, endpoint_url=server.url, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def server(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-logs-") as d:
        s = Server(Path(d) / "data").start()
        yield s
        s.stop()


@pytest.fixture(scope="module")
def lam(server):
    return server.client()


@pytest.fixture(scope="module")
def logs(server):
    return client(server, "logs")


def invoke(lam, name, lines=(), sleep=0, qualifier=None):
    kw = {"Qualifier": qualifier} if qualifier else {}
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"lines": list(lines), "sleep": sleep}), **kw)
    assert "FunctionError" not in r, r["Payload"].read()
    return r


@pytest.fixture(scope="module")
def fn(lam):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler")
    invoke(lam, name, ["hello ERROR one", "plain two", "WARN three", "Task timed out phrase"], sleep=1.2)
    invoke(lam, name, ["second ERROR four"])
    return name


def error_of(excinfo):
    e = excinfo.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def messages(events):
    return [e["message"] for e in events]


def test_lines_land_in_the_functions_group_and_a_lambda_named_stream(logs, fn):
    group = f"/aws/lambda/{fn}"
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    g = groups[0]
    assert g["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert g["logGroupArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    assert g["logGroupClass"] == "STANDARD" and g["metricFilterCount"] == 0
    assert g["storedBytes"] > 0 and abs(g["creationTime"] - time.time() * 1000) < 600_000
    assert "retentionInDays" not in g
    streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert len(streams) == 1, "both invocations ran in one warm environment"
    s = streams[0]
    assert STREAM.match(s["logStreamName"]) and "[$LATEST]" in s["logStreamName"], s
    assert s["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:log-stream:{s['logStreamName']}"
    assert s["firstEventTimestamp"] <= s["lastEventTimestamp"] <= s["lastIngestionTime"]
    assert s["logStreamName"].startswith(time.strftime("%Y/%m/%d", time.gmtime(s["creationTime"] / 1000)))
    # The group by ARN (with or without `:*`) is the same group.
    for identifier in (g["logGroupArn"], g["arn"]):
        by_arn = logs.describe_log_streams(logGroupIdentifier=identifier)["logStreams"]
        assert [x["logStreamName"] for x in by_arn] == [s["logStreamName"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.describe_log_streams(logGroupName=group, logGroupIdentifier=g["logGroupArn"])
    assert error_of(e)[0] == "InvalidParameterException"


def test_dropped_events_are_counted_in_metrics(server, fn):
    import urllib.request
    with urllib.request.urlopen(server.url + "/metrics") as r:
        text = r.read().decode()
    assert "\narchfn_log_events_dropped_total 0\n" in text


def test_get_log_events_in_order_with_their_own_timestamps_and_tokens(logs, fn):
    group = f"/aws/lambda/{fn}"
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    r = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    msgs = messages(r["events"])
    starts = [i for i, m in enumerate(msgs) if m.startswith("START RequestId:")]
    assert len(starts) == 2 and msgs[0].startswith("INIT_START Runtime Version:")
    first = msgs[starts[0]:starts[1]]
    assert first[1:5] == ["hello ERROR one\n", "plain two\n", "WARN three\n", "Task timed out phrase\n"]
    assert first[5].startswith("END RequestId:") and first[6].startswith("REPORT RequestId:")
    assert all(m.endswith("\n") for m in msgs), "Lambda's events keep their newline"
    ts = [e["timestamp"] for e in r["events"]]
    assert ts == sorted(ts)
    # The first invocation slept 1.2 s: its START and its REPORT are that far apart.
    assert r["events"][starts[0] + 6]["timestamp"] - r["events"][starts[0]]["timestamp"] >= 1000
    assert all(e["ingestionTime"] >= e["timestamp"] for e in r["events"])
    # At the end, the forward token comes back unchanged.
    again = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=r["nextForwardToken"], startFromHead=True)
    assert again["events"] == [] and again["nextForwardToken"] == r["nextForwardToken"]
    assert re.match(r"^f/\d{56}/s$", r["nextForwardToken"]) and re.match(r"^b/\d{56}/s$", r["nextBackwardToken"])
    # Without startFromHead, the newest events; backward from them, the ones before.
    tail = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2)
    assert messages(tail["events"]) == msgs[-2:]
    before = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3, nextToken=tail["nextBackwardToken"])
    assert messages(before["events"]) == msgs[-5:-2]
    head = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2, startFromHead=True)
    assert messages(head["events"]) == msgs[:2]
    nxt = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2, nextToken=head["nextForwardToken"])
    assert messages(nxt["events"]) == msgs[2:4]
    # endTime is exclusive, startTime inclusive.
    t0 = r["events"][0]["timestamp"]
    assert messages(logs.get_log_events(logGroupName=group, logStreamName=stream, startTime=t0, endTime=t0 + 1,
                                        startFromHead=True)["events"]) == [m for e, m in zip(r["events"], msgs) if e["timestamp"] == t0]


def test_filter_patterns(logs, fn):
    group = f"/aws/lambda/{fn}"

    def found(pattern, **kw):
        return [m for m in messages(logs.filter_log_events(logGroupName=group, filterPattern=pattern, **kw)["events"])
                if not m.startswith(("START", "END", "REPORT", "INIT_START"))]

    assert found("ERROR") == ["hello ERROR one\n", "second ERROR four\n"]
    assert found("ERROR second") == ["second ERROR four\n"]
    assert found('"timed out phrase"') == ["Task timed out phrase\n"]
    assert found('"out timed"') == []
    assert found("?WARN ?plain") == ["plain two\n", "WARN three\n"]
    assert found("ERROR -second") == ["hello ERROR one\n"]
    assert found("error") == [], "terms are case-sensitive"
    every = logs.filter_log_events(logGroupName=group)
    assert len(every["events"]) == 12 and "nextToken" not in every
    e = every["events"][0]
    assert set(e) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    assert [s["logStreamName"] for s in every["searchedLogStreams"]] == [e["logStreamName"]]
    assert every["searchedLogStreams"][0]["searchedCompletely"] is True
    # Paging with nextToken reads every event once.
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.filter_log_events(logGroupName=group, limit=4, **kw)
        assert len(page["events"]) <= 4
        seen += [x["eventId"] for x in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [x["eventId"] for x in every["events"]]
    # Streams and times select.
    stream = e["logStreamName"]
    assert len(logs.filter_log_events(logGroupName=group, logStreamNames=[stream])["events"]) == len(every["events"])
    assert logs.filter_log_events(logGroupName=group, logStreamNames=["2020/01/01/[$LATEST]" + "0" * 32])["events"] == []
    assert logs.filter_log_events(logGroupName=group, logStreamNamePrefix="1999/")["events"] == []
    last = every["events"][-1]["timestamp"]
    later = logs.filter_log_events(logGroupName=group, startTime=last)["events"]
    assert later and all(x["timestamp"] >= last for x in later)
    assert logs.filter_log_events(logGroupName=group, endTime=e["timestamp"] - 1)["events"] == []


class TailReplay:
    """`aws logs tail GROUP [--follow]` (AWS CLI v2, which is not on PyPI) replayed call for call:
    FilterLogEvents with `interleaved` and a `startTime`, pages followed by `nextToken`; with
    --follow, once a page has no `nextToken`, the next poll starts at the newest timestamp seen and
    skips the events of that timestamp it has already printed, by `eventId`."""

    def __init__(self, logs, group, since_ms, **kw):
        self.logs = logs
        self.kwargs = {"logGroupName": group, "interleaved": True, "startTime": since_ms, **kw}
        self.seen = {}

    def poll(self):
        """One poll (and the pages it leads to): the events `tail` would print."""
        printed = []
        while True:
            r = self.logs.filter_log_events(**self.kwargs)
            for e in r["events"]:
                ids = self.seen.setdefault(e["timestamp"], set())
                if e["eventId"] not in ids:
                    ids.add(e["eventId"])
                    printed.append(e)
            if self.seen:
                newest = max(self.seen)
                self.seen = {newest: self.seen[newest]}
            if "nextToken" in r:
                self.kwargs["nextToken"] = r["nextToken"]
                continue
            if self.seen:
                self.kwargs["startTime"] = max(self.seen)
            self.kwargs.pop("nextToken", None)
            return printed


def test_aws_logs_tail_follow_replayed(lam, logs):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler")
    group = f"/aws/lambda/{name}"
    invoke(lam, name, [f"first {i}" for i in range(30)])
    since = int(time.time() * 1000) - 600_000  # tail's default --since 10m
    tail = TailReplay(logs, group, since, limit=7)  # small pages, so nextToken is followed
    deadline = time.time() + 10
    printed = []
    while time.time() < deadline and not any(m.startswith("REPORT") for m in messages(printed)):
        printed += tail.poll()
        time.sleep(0.2)
    lines = messages(printed)
    assert [m for m in lines if m.startswith("first")] == [f"first {i}\n" for i in range(30)]
    assert sum(m.startswith("REPORT") for m in lines) == 1
    assert all(set(e) >= {"eventId", "timestamp", "ingestionTime", "logStreamName", "message"} for e in printed)
    # Nothing new: a poll prints nothing, although it starts at the last event's timestamp.
    assert tail.poll() == []
    invoke(lam, name, ["second a", "second b"])
    deadline, more = time.time() + 10, []
    while time.time() < deadline and not any(m.startswith("REPORT") for m in messages(more)):
        more += tail.poll()
        time.sleep(0.2)
    later = messages(more)
    assert [m for m in later if not m.startswith(("START", "END", "REPORT"))] == ["second a\n", "second b\n"]
    assert not any(m.startswith("first") for m in later), "an event printed twice"
    # --log-stream-name-prefix and --filter-pattern pass through.
    stream = printed[0]["logStreamName"]
    only = TailReplay(logs, group, since, logStreamNamePrefix=stream[:11], filterPattern="second").poll()
    assert messages(only) == ["second a\n", "second b\n"]


def test_each_line_keeps_the_time_it_was_written(lam, logs):
    source = "import time\ndef handler(event, context):\n    print('early')\n    time.sleep(1.0)\n    print('late')\n    return 1\n"
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": source}), Handler="app.handler")
    assert "FunctionError" not in lam.invoke(FunctionName=name)
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    at = {e["message"].split()[0]: e["timestamp"] for e in events}
    assert at["START"] <= at["early"] <= at["late"] <= at["REPORT"], at
    assert at["late"] - at["early"] >= 800, at
    assert at["early"] - at["START"] < 800, at


def test_versions_get_their_own_streams(lam, logs):
    name, _ = create(lam, runtime="python3.11", arch="arm64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler")
    version = lam.publish_version(FunctionName=name)["Version"]
    marker = unique("v")
    invoke(lam, name, [marker], qualifier=version)
    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]]
    assert len(streams) == 1 and f"/[{version}]" in streams[0] and STREAM.match(streams[0]), streams
    hits = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern=f'"{marker}"')["events"]
    assert [h["message"] for h in hits] == [marker + "\n"]
    # A REPORT line says the invocation ran emulated.
    report = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="REPORT")["events"]
    assert "Execution: " in report[0]["message"]


def test_logging_config_log_group_is_respected(lam, logs):
    group = "/custom/" + unique("grp")
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": APP}), Handler="app.handler",
                     LoggingConfig={"LogFormat": "Text", "LogGroup": group})
    marker = unique("lg")
    invoke(lam, name, [marker])
    assert [m for m in messages(logs.filter_log_events(logGroupName=group, filterPattern=f'"{marker}"')["events"])] == [marker + "\n"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")
    assert error_of(e) == ("ResourceNotFoundException", "The specified log group does not exist.", 400)


def test_groups_retention_and_paging(logs):
    base = "/archfn-test/" + unique("g")
    names = [f"{base}/{i}" for i in range(5)]
    for n in names:
        assert logs.create_log_group(logGroupName=n)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_group(logGroupName=names[0])
    assert error_of(e) == ("ResourceAlreadyExistsException", "The specified log group already exists", 400)
    got, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = logs.describe_log_groups(logGroupNamePrefix=base, limit=2, **kw)
        got += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert got == names
    paginated = [g["logGroupName"] for p in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=base, PaginationConfig={"PageSize": 3}) for g in p["logGroups"]]
    assert paginated == names
    # A pattern is a case-sensitive substring; its answers hold only the name, time and ARN.
    tail = base.rsplit("/", 1)[1]
    by_pattern = logs.describe_log_groups(logGroupNamePattern=tail)["logGroups"]
    assert [g["logGroupName"] for g in by_pattern] == names
    assert set(by_pattern[0]) == {"logGroupName", "creationTime", "arn"}
    assert logs.describe_log_groups(logGroupNamePattern=tail.upper())["logGroups"] == []
    logs.put_retention_policy(logGroupName=names[1], retentionInDays=14)
    g = logs.describe_log_groups(logGroupNamePrefix=names[1])["logGroups"][0]
    assert g["retentionInDays"] == 14 and g["storedBytes"] == 0
    for bad in (2, 0, 4000):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            logs.put_retention_policy(logGroupName=names[1], retentionInDays=bad)
        code, message, status = error_of(e)
        assert (code, status) == ("InvalidParameterException", 400)
        assert message.startswith(f"1 validation error detected: Value '{bad}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30,")
    logs.delete_retention_policy(logGroupName=names[1])
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=names[1])["logGroups"][0]
    logs.delete_log_group(logGroupName=names[0])
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=base)["logGroups"]] == names[1:]
    for call in (lambda: logs.delete_log_group(logGroupName=names[0]),
                 lambda: logs.put_retention_policy(logGroupName=names[0], retentionInDays=1),
                 lambda: logs.delete_retention_policy(logGroupName=names[0]),
                 lambda: logs.describe_log_streams(logGroupName=names[0]),
                 lambda: logs.get_log_events(logGroupName=names[0], logStreamName="s"),
                 lambda: logs.filter_log_events(logGroupName=names[0])):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_of(e) == ("ResourceNotFoundException", "The specified log group does not exist.", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.create_log_group(logGroupName="bad name")
    assert error_of(e)[0] == "InvalidParameterException"


def test_bad_input(logs, fn):
    group = f"/aws/lambda/{fn}"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.get_log_events(logGroupName=group, logStreamName="2020/01/01/[$LATEST]" + "0" * 32)
    assert error_of(e) == ("ResourceNotFoundException", "The specified log stream does not exist.", 400)
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    for call in (lambda: logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken="garbage"),
                 lambda: logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken="f/123/s"),
                 lambda: logs.filter_log_events(logGroupName=group, nextToken="garbage"),
                 lambda: logs.describe_log_groups(nextToken="garbage"),
                 lambda: logs.describe_log_streams(logGroupName=group, nextToken="garbage")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_of(e) == ("InvalidParameterException", "The specified nextToken is invalid.", 400)
    for pattern, message in (('"unterminated', "Invalid filter pattern"),
                             ("a@b.com", "Invalid character(s) in term 'a@b.com'"),
                             ("{ $.level = ", "If a filter pattern starts with '{' it must end with '}'")):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            logs.filter_log_events(logGroupName=group, filterPattern=pattern)
        assert error_of(e) == ("InvalidParameterException", message, 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="2")
    assert error_of(e) == ("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        logs.filter_log_events(logGroupName=group, logStreamNames=[stream], logStreamNamePrefix="2")
    assert error_of(e)[0] == "InvalidParameterException"


def aws(server, *args, env=None):
    e = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDARCHFN", AWS_SECRET_ACCESS_KEY="archfn-secret", AWS_DEFAULT_REGION="us-east-1",
             **(env or {}))
    out = subprocess.run([AWS, "--endpoint-url", server.url, "--output", "json", *args], capture_output=True, text=True, env=e)
    return out.returncode, out.stdout, out.stderr


def test_aws_cli(server, fn):
    group = f"/aws/lambda/{fn}"
    rc, out, err = aws(server, "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "ERROR")
    assert rc == 0, err
    assert [e["message"] for e in json.loads(out)["events"]] == ["hello ERROR one\n", "second ERROR four\n"]
    rc, out, err = aws(server, "logs", "describe-log-streams", "--log-group-name", group)
    stream = json.loads(out)["logStreams"][0]["logStreamName"]
    rc, out, err = aws(server, "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream, "--start-from-head")
    assert rc == 0 and any(m["message"].startswith("REPORT RequestId:") for m in json.loads(out)["events"]), err
    rc, out, err = aws(server, "logs", "filter-log-events", "--log-group-name", "/aws/lambda/nope")
    assert rc != 0 and "ResourceNotFoundException" in err and "The specified log group does not exist." in err
    rc, out, err = aws(server, "sts", "get-caller-identity")
    assert rc == 0, err
    assert json.loads(out) == {"UserId": "000000000000", "Account": "000000000000", "Arn": "arn:aws:iam::000000000000:root"}


def archfn_logs(server, name, *args, env=None, timeout=30):
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(env or {})
    return subprocess.run([archfn_bin(), "logs", name, "--endpoint", server.url, *args], capture_output=True, text=True,
                          env=e, timeout=timeout, cwd="/")


def test_archfn_logs_reads_through_the_server(server, lam, fn):
    out = archfn_logs(server, fn)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "hello ERROR one" in lines and "second ERROR four" in lines
    assert sum(l.startswith("REPORT RequestId:") for l in lines) == 2
    assert archfn_logs(server, fn, "--since", "1s").stdout.count("REPORT") <= 2
    missing = archfn_logs(server, "never-created")
    assert missing.returncode != 0 and "no log for never-created" in missing.stderr
    bad = archfn_logs(server, fn, "--since", "soon")
    assert bad.returncode != 0 and "--since" in bad.stderr
    # --follow prints what arrives later.
    marker = unique("follow")
    # Bytes, read without blocking (a text-mode pipe's decoder fails on a read that finds nothing).
    proc = subprocess.Popen([archfn_bin(), "logs", fn, "--endpoint", server.url, "--follow", "--since", "1m"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        invoke(lam, fn, [marker])
        deadline = time.time() + 20
        seen, printed = [], b""
        os.set_blocking(proc.stdout.fileno(), False)
        while time.time() < deadline and not any(marker in l for l in seen):
            chunk = proc.stdout.read()
            if chunk:
                printed += chunk
                seen = printed.decode(errors="replace").splitlines()
            time.sleep(0.2)
        assert [l for l in seen if marker in l] == [marker], seen[-20:]
    finally:
        proc.kill()
        proc.wait()


def test_signed_server_logs_sts_and_archfn_logs():
    with tempfile.TemporaryDirectory(prefix="archfn-logs-auth-") as d:
        creds = Path(d) / "credentials"
        creds.write_text("[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = good-secret\n")
        s = Server(Path(d) / "data", ["--auth", "sigv4", "--credentials-file", str(creds)]).start()
        try:
            good = client(s, "logs", key="AKIDGOOD", secret="good-secret")
            good.create_log_group(logGroupName="/signed/group")
            assert [g["logGroupName"] for g in good.describe_log_groups()["logGroups"]] == ["/signed/group"]
            for service in ("logs", "sts"):
                bad = client(s, service, key="AKIDGOOD", secret="wrong")
                with pytest.raises(botocore.exceptions.ClientError) as e:
                    bad.describe_log_groups() if service == "logs" else bad.get_caller_identity()
                assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
                assert e.value.response["Error"]["Code"] in ("InvalidSignatureException", "SignatureDoesNotMatch")
            ident = client(s, "sts", key="AKIDGOOD", secret="good-secret").get_caller_identity()
            assert (ident["Account"], ident["Arn"], ident["UserId"]) == ("000000000000", "arn:aws:iam::000000000000:root", "000000000000")
            unknown = client(s, "sts", key="AKIDNOPE", secret="x")
            with pytest.raises(botocore.exceptions.ClientError) as e:
                unknown.get_caller_identity()
            assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
            # `archfn logs` signs with the environment's keys; no group yet, so "no log".
            signed = archfn_logs(s, "f", env={"AWS_ACCESS_KEY_ID": "AKIDGOOD", "AWS_SECRET_ACCESS_KEY": "good-secret"})
            assert signed.returncode != 0 and "no log for f" in signed.stderr, signed.stderr
            unsigned = archfn_logs(s, "f")
            assert unsigned.returncode != 0 and "no log for f" not in unsigned.stderr
            assert "UnrecognizedClientException" in unsigned.stderr or "403" in unsigned.stderr, unsigned.stderr
        finally:
            s.stop()


def test_sts_in_open_mode(server):
    sts = client(server, "sts", region="eu-west-1")
    ident = sts.get_caller_identity()
    assert ident["Account"] == "000000000000" and ident["Arn"] == "arn:aws:iam::000000000000:root"
    # An unsigned form post of the action works too (open mode), another version does not.
    import urllib.request
    req = urllib.request.Request(server.url + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req) as r:
        assert b"<Account>000000000000</Account>" in r.read()
