"""LoggingConfig: Lambda's defaults in every FunctionConfiguration, its validation, and JSON logs
(platform records and the runtimes' own loggers) filtered by the two levels, read line by line
from the log tail Invoke returns."""

import base64
import json

import botocore.exceptions
import pytest

from conftest import ROLE, create, make_zip, server_fixture, unique, wait_updated

# nodejs20.x is past AWS's "block function create" date: judge runtime policy at an earlier date.
lam = server_fixture("--runtime-policy-date", "2026-01-01", prefix="archfn-logging-")

PY_APP = """
import logging
logger = logging.getLogger("app")

def handler(event, context):
    logger.debug("debug record %s", 1)
    logger.info("info record")
    logger.warning("warn record")
    return {"ok": True}
"""

PY_PRINT = """
def handler(event, context):
    print("plain text from print")
    return 1
"""

NODE_APP = """
exports.handler = async (event) => {
  console.debug("debug record", 1);
  console.log("info record", { a: 1 });
  console.warn("warn record");
  console.error(new TypeError("bad thing"));
  return { ok: true };
};
"""


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response


def tail(lam, name, qualifier=None):
    kw = {"Qualifier": qualifier} if qualifier else {}
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail", **kw)
    assert "FunctionError" not in r, r["Payload"].read()
    return base64.b64decode(r.get("LogResult", "")).decode()


def records(log):
    lines = [line for line in log.splitlines() if line]
    assert lines, "an empty log"
    # Every line is one JSON object.
    return [json.loads(line) for line in lines]


def platform(recs, kind):
    return [r for r in recs if r.get("type") == kind]


def app(recs):
    return [r for r in recs if "type" not in r]


def test_defaults_in_every_configuration(lam):
    name, created = create(lam, runtime="python3.13")
    want = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert created["LoggingConfig"] == want
    assert lam.get_function(FunctionName=name)["Configuration"]["LoggingConfig"] == want
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"] == want
    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]
    assert listed[0]["LoggingConfig"] == want

    r = lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON"})
    json_defaults = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
                     "LogGroup": f"/aws/lambda/{name}"}
    assert r["LoggingConfig"] == json_defaults
    wait_updated(lam, name)
    v = lam.publish_version(FunctionName=name)
    assert v["LoggingConfig"] == json_defaults
    # A version keeps its configuration when $LATEST's changes.
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text", "LogGroup": "/custom/group"})
    wait_updated(lam, name)
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/custom/group"}
    assert lam.get_function_configuration(FunctionName=name, Qualifier=v["Version"])["LoggingConfig"] == json_defaults
    versions = {x["Version"]: x["LoggingConfig"] for x in lam.list_versions_by_function(FunctionName=name)["Versions"]}
    assert versions[v["Version"]] == json_defaults


def test_members_are_merged_and_levels_kept(lam):
    name, created = create(lam, runtime="python3.13",
                           LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "LogGroup": "/x/y"})
    assert created["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "INFO", "LogGroup": "/x/y"}
    r = lam.update_function_configuration(FunctionName=name, LoggingConfig={"SystemLogLevel": "WARN"})
    assert r["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "WARN", "LogGroup": "/x/y"}


def test_validation_errors(lam):
    name = unique("logcfg")
    # Levels with Text: Lambda's InvalidParameterValueException.
    resp = error_of(lambda: lam.create_function(
        FunctionName=name, Runtime="python3.13", Role=ROLE, Handler="lambda_function.handler",
        Code={"ZipFile": make_zip()}, LoggingConfig={"ApplicationLogLevel": "DEBUG"}))
    assert resp["Error"]["Code"] == "InvalidParameterValueException"
    assert resp["Error"]["Message"] == ('LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel '
                                        'from your request or change the LogFormat to "Json" and try again.')
    name, _ = create(lam, runtime="python3.13")
    resp = error_of(lambda: lam.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "Text", "SystemLogLevel": "WARN"}))
    assert resp["Error"]["Code"] == "InvalidParameterValueException"


def test_model_validation(lam):
    # boto3 checks lengths on its side: go around it to see the server's answer.
    client = _unvalidated(lam)
    name, _ = create(lam, runtime="python3.13")
    resp = error_of(lambda: client.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "json", "SystemLogLevel": "TRACE", "LogGroup": "bad group"}))
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert resp["Error"]["Code"] == "ValidationException"
    msg = resp["Error"]["Message"]
    assert msg.startswith("3 validation errors detected: "), msg
    assert "Value 'json' at 'loggingConfig.logFormat' failed to satisfy constraint: Member must satisfy enum value set: [JSON, Text]" in msg
    assert "Value 'TRACE' at 'loggingConfig.systemLogLevel' failed to satisfy constraint: Member must satisfy enum value set: [DEBUG, INFO, WARN]" in msg
    assert "Value 'bad group' at 'loggingConfig.logGroup' failed to satisfy constraint: Member must satisfy regular expression pattern" in msg
    # Nothing was changed.
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"]["LogFormat"] == "Text"


def _unvalidated(client):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda", endpoint_url=client.meta.endpoint_url, region_name="us-east-1",
        aws_access_key_id="AKIDARCHFN", aws_secret_access_key="archfn-secret",
        config=Config(retries={"max_attempts": 0}, parameter_validation=False))


def test_python_json_logs(lam):
    name, _ = create(lam, runtime="python3.13", zip_bytes=make_zip({"app.py": PY_APP}), Handler="app.handler",
                     LoggingConfig={"LogFormat": "JSON"})
    recs = records(tail(lam, name))
    init = platform(recs, "platform.initStart")
    assert init and init[0]["record"]["functionName"] == name and init[0]["record"]["phase"] == "init"
    start = platform(recs, "platform.start")
    assert len(start) == 1 and start[0]["record"]["version"] == "$LATEST"
    request_id = start[0]["record"]["requestId"]
    report = platform(recs, "platform.report")
    assert len(report) == 1
    rec = report[0]["record"]
    assert rec["requestId"] == request_id and rec["status"] == "success"
    assert set(rec["metrics"]) == {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"}
    assert rec["metrics"]["memorySizeMB"] == 128
    assert report[0]["time"].endswith("Z")
    # runtimeDone is DEBUG: filtered at the default INFO.
    assert not platform(recs, "platform.runtimeDone")
    own = app(recs)
    assert [(r["level"], r["message"]) for r in own] == [("INFO", "info record"), ("WARNING", "warn record")]
    for r in own:
        assert r["logger"] == "app" and r["requestId"] == request_id and r["timestamp"].endswith("Z")

    # A warm invocation: no initStart, no initDurationMs.
    recs = records(tail(lam, name))
    assert not platform(recs, "platform.initStart")
    assert "initDurationMs" not in platform(recs, "platform.report")[0]["record"]["metrics"]

    # DEBUG lets the debug record (and the DEBUG platform record) through.
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"ApplicationLogLevel": "DEBUG", "SystemLogLevel": "DEBUG"})
    wait_updated(lam, name)
    recs = records(tail(lam, name))
    assert ("DEBUG", "debug record 1") in [(r["level"], r["message"]) for r in app(recs)]
    done = platform(recs, "platform.runtimeDone")
    assert done and done[0]["record"]["status"] == "success"

    # WARN for system records drops platform.start and platform.report; WARN for the
    # application keeps only the warning.
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"})
    wait_updated(lam, name)
    recs = records(tail(lam, name))
    assert [(r.get("type"), r.get("level"), r.get("message")) for r in recs] == [(None, "WARNING", "warn record")]


def test_python_print_stays_plain_and_text_is_unchanged(lam):
    name, _ = create(lam, runtime="python3.13", zip_bytes=make_zip({"app.py": PY_PRINT}), Handler="app.handler",
                     LoggingConfig={"LogFormat": "JSON"})
    lines = tail(lam, name).splitlines()
    assert "plain text from print" in lines
    for line in lines:
        if line != "plain text from print":
            json.loads(line)

    name, _ = create(lam, runtime="python3.13", zip_bytes=make_zip({"app.py": PY_PRINT}), Handler="app.handler")
    log = tail(lam, name)
    assert log.splitlines()[0].startswith("INIT_START Runtime Version: ")
    assert "START RequestId: " in log and "END RequestId: " in log and "\nREPORT RequestId: " in log
    assert "plain text from print" in log and "platform." not in log


def test_node_json_logs(lam):
    name, _ = create(lam, runtime="nodejs20.x", zip_bytes=make_zip({"index.js": NODE_APP}), Handler="index.handler",
                     LoggingConfig={"LogFormat": "JSON"})
    recs = records(tail(lam, name))
    request_id = platform(recs, "platform.start")[0]["record"]["requestId"]
    assert platform(recs, "platform.report")[0]["record"]["requestId"] == request_id
    own = app(recs)
    assert [r["level"] for r in own] == ["INFO", "WARN", "ERROR"]
    assert own[0]["message"] == "info record { a: 1 }"
    assert own[2]["errorType"] == "TypeError" and own[2]["errorMessage"] == "bad thing"
    for r in own:
        assert r["requestId"] == request_id and r["timestamp"].endswith("Z")
        assert set(r) >= {"timestamp", "level", "requestId", "message"}

    lam.update_function_configuration(FunctionName=name, LoggingConfig={"ApplicationLogLevel": "DEBUG"})
    wait_updated(lam, name)
    recs = records(tail(lam, name))
    assert [r["level"] for r in app(recs)] == ["DEBUG", "INFO", "WARN", "ERROR"]
    assert app(recs)[0]["message"] == "debug record 1"

    lam.update_function_configuration(FunctionName=name, LoggingConfig={"SystemLogLevel": "WARN", "ApplicationLogLevel": "WARN"})
    wait_updated(lam, name)
    recs = records(tail(lam, name))
    assert not [r for r in recs if "type" in r]
    assert [r["level"] for r in recs] == ["WARN", "ERROR"]


def test_environment_variables_follow_the_configuration(lam):
    app_src = """
import os
def handler(event, context):
    return {k: os.environ.get(k) for k in ("AWS_LAMBDA_LOG_FORMAT", "AWS_LAMBDA_LOG_LEVEL", "AWS_LAMBDA_LOG_GROUP_NAME")}
"""
    name, _ = create(lam, runtime="python3.13", zip_bytes=make_zip({"app.py": app_src}), Handler="app.handler")
    got = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert got == {"AWS_LAMBDA_LOG_FORMAT": None, "AWS_LAMBDA_LOG_LEVEL": None, "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}"}
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "LogGroup": "/mine"})
    wait_updated(lam, name)
    got = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert got == {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN", "AWS_LAMBDA_LOG_GROUP_NAME": "/mine"}


RUBY_APP = """
require "logger"

def handler(event:, context:)
  logger = Logger.new($stdout)
  logger.debug("debug record")
  logger.info("info record")
  logger.warn("warn record")
  puts "plain puts"
  { "ok" => true }
end
"""


def test_ruby_json_logs(lam):
    name, _ = create(lam, runtime="ruby3.3", zip_bytes=make_zip({"app.rb": RUBY_APP}), Handler="app.handler",
                     LoggingConfig={"LogFormat": "JSON"})
    lines = tail(lam, name).splitlines()
    assert "plain puts" in lines, "puts output stays as it is"
    recs = [json.loads(line) for line in lines if line != "plain puts"]
    request_id = platform(recs, "platform.start")[0]["record"]["requestId"]
    own = app(recs)
    assert [(r["level"], r["message"]) for r in own] == [("INFO", "info record"), ("WARN", "warn record")]
    for r in own:
        assert r["requestId"] == request_id and r["timestamp"].endswith("Z")

    lam.update_function_configuration(FunctionName=name, LoggingConfig={"ApplicationLogLevel": "DEBUG"})
    wait_updated(lam, name)
    recs = [json.loads(line) for line in tail(lam, name).splitlines() if line != "plain puts"]
    assert [r["level"] for r in app(recs)] == ["DEBUG", "INFO", "WARN"]
