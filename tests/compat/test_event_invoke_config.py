"""Asynchronous invocation configuration: Put/Update/Get/Delete/ListFunctionEventInvokeConfigs with
Lambda's shapes and errors, and the event worker honouring it: MaximumRetryAttempts, the maximum event
age, and destination records (Lambda's format) delivered to OnSuccess/OnFailure functions.

Test servers run with `--async-retry-delay 1`: retries wait 1 s and 2 s instead of Lambda's one and two
minutes, and the maximum event age is scaled the same way (60 s of Lambda's clock is 1 s here), which is
how an event is aged out without waiting a minute."""

import datetime
import json
import re
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import archfn_bin, create, make_zip, unique

FAILING = """
def handler(event, context):
    print("attempt", event["marker"])
    raise RuntimeError("failed on purpose " + event["marker"])
"""

SUCCEEDING = """
def handler(event, context):
    print("attempt", event["marker"])
    return {"answer": 42, "marker": event["marker"]}
"""

RECORDER = """
import json
def handler(event, context):
    print("RECORD " + json.dumps(event))
"""


def error_of(excinfo):
    e = excinfo.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def function(lam, source):
    name, resp = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": source}), Handler="app.handler")
    return name, resp["FunctionArn"]


def log(server, name):
    out = subprocess.run([archfn_bin(), "logs", name, "--endpoint", server.url], capture_output=True, text=True)
    return out.stdout.splitlines()


def attempts(server, name, marker):
    return [l for l in log(server, name) if l == f"attempt {marker}"]


def records(server, name):
    return [json.loads(l[len("RECORD "):]) for l in log(server, name) if l.startswith("RECORD ")]


def wait_for(predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


@pytest.fixture(scope="module")
def lam(server, runtimes):
    return server.client()


def test_operations_and_their_errors(lam, server):
    name, fn_arn = function(lam, SUCCEEDING)
    target, target_arn = function(lam, RECORDER)
    latest = f"{fn_arn}:$LATEST"
    with pytest.raises(ClientError) as e:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert error_of(e) == ("ResourceNotFoundException", f"The function {latest} doesn't have an EventInvokeConfig", 404)
    with pytest.raises(ClientError) as e:
        lam.put_function_event_invoke_config(FunctionName=unique("absent"), MaximumRetryAttempts=1)
    assert error_of(e) == ("ResourceNotFoundException", "The function doesn't exist.", 404)
    with pytest.raises(ClientError) as e:
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier="nope", MaximumRetryAttempts=1)
    assert error_of(e) == ("ResourceNotFoundException", "The function doesn't exist.", 404)
    with pytest.raises(ClientError) as e:
        lam.put_function_event_invoke_config(FunctionName=name)
    assert error_of(e) == ("InvalidParameterValueException",
                           "You must specify at least one of error handling or destination setting.", 400)
    raw = server.client(validate=False)
    with pytest.raises(ClientError) as e:
        raw.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=3, MaximumEventAgeInSeconds=59)
    assert error_of(e) == ("ValidationException",
                           "2 validation errors detected: Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: "
                           "Member must have value less than or equal to 2; Value '59' at 'maximumEventAgeInSeconds' failed "
                           "to satisfy constraint: Member must have value greater than or equal to 60", 400)
    with pytest.raises(ClientError) as e:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": fn_arn}})
    assert error_of(e) == ("InvalidParameterValueException", "You can't specify the function as a destination for itself.", 400)
    missing = fn_arn.replace(name, unique("missing"))
    with pytest.raises(ClientError) as e:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": missing}})
    assert error_of(e) == ("InvalidParameterValueException", f"The destination ARN {missing} is invalid.", 400)
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    with pytest.raises(ClientError) as e:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": table}})
    assert error_of(e) == ("InvalidParameterValueException",
                           f"The provided destination config DestinationConfig(onSuccess=null, "
                           f"onFailure=OnFailure(destination={table})) is invalid.", 400)

    queue = "arn:aws:sqs:us-east-1:123456789012:dead-letters"
    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=3600,
                                               DestinationConfig={"OnFailure": {"Destination": queue},
                                                                  "OnSuccess": {"Destination": target_arn}})
    assert put["FunctionArn"] == latest
    assert put["MaximumRetryAttempts"] == 1 and put["MaximumEventAgeInSeconds"] == 3600
    assert put["DestinationConfig"] == {"OnSuccess": {"Destination": target_arn}, "OnFailure": {"Destination": queue}}
    assert isinstance(put["LastModified"], datetime.datetime)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert {k: got[k] for k in ("FunctionArn", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")} == \
        {k: put[k] for k in ("FunctionArn", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")}
    # Update merges what it is given.
    up = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert up["MaximumRetryAttempts"] == 0 and up["MaximumEventAgeInSeconds"] == 3600
    assert up["DestinationConfig"]["OnFailure"] == {"Destination": queue}
    # Put replaces: what it is not given is removed.
    again = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
    assert again["MaximumRetryAttempts"] == 2 and "MaximumEventAgeInSeconds" not in again
    assert again["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}

    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    with pytest.raises(ClientError) as e:
        lam.update_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumRetryAttempts=1)
    assert error_of(e) == ("ResourceNotFoundException", f"The function {fn_arn}:live doesn't have an EventInvokeConfig", 404)
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumEventAgeInSeconds=60)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == sorted([latest, f"{fn_arn}:live"])
    page = lam.list_function_event_invoke_configs(FunctionName=name, MaxItems=1)
    assert len(page["FunctionEventInvokeConfigs"]) == 1 and "NextMarker" in page
    rest = lam.list_function_event_invoke_configs(FunctionName=name, Marker=page["NextMarker"])
    assert len(rest["FunctionEventInvokeConfigs"]) == 1 and "NextMarker" not in rest
    with pytest.raises(ClientError) as e:
        lam.list_function_event_invoke_configs(FunctionName=unique("absent"))
    assert error_of(e) == ("ResourceNotFoundException", "The function doesn't exist.", 404)

    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="live")
    with pytest.raises(ClientError) as e:
        lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert error_of(e) == ("ResourceNotFoundException", f"The function {fn_arn}:live doesn't have an EventInvokeConfig", 404)
    lam.delete_function_event_invoke_config(FunctionName=name)
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []


def test_a_failure_goes_to_the_on_failure_function_after_the_configured_retries(lam, server):
    name, fn_arn = function(lam, FAILING)
    target, target_arn = function(lam, RECORDER)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1,
                                         DestinationConfig={"OnFailure": {"Destination": target_arn}})
    marker = unique("m")
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker}))
    request_id = r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    got = wait_for(lambda: records(server, target), 60)
    assert len(got) == 1, got
    record = got[0]
    # Two attempts (the first and one retry), then the record.
    assert attempts(server, name, marker) == [f"attempt {marker}"] * 2
    assert record["version"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"]), record["timestamp"]
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{fn_arn}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 2}
    assert record["requestPayload"] == {"marker": marker}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == f"failed on purpose {marker}"
    time.sleep(3)
    assert len(attempts(server, name, marker)) == 2, "no third attempt"
    assert len(records(server, target)) == 1


def test_a_success_goes_to_the_on_success_function(lam, server):
    name, fn_arn = function(lam, SUCCEEDING)
    target, target_arn = function(lam, RECORDER)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="live",
                                         DestinationConfig={"OnSuccess": {"Destination": target_arn}})
    marker = unique("m")
    lam.invoke(FunctionName=name, Qualifier="live", InvocationType="Event", Payload=json.dumps({"marker": marker}))
    got = wait_for(lambda: records(server, target), 60)
    assert len(got) == 1, got
    record = got[0]
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["functionArn"] == f"{fn_arn}:live"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": version}
    assert record["responsePayload"] == {"answer": 42, "marker": marker}
    # The unqualified function has no configuration: its events go nowhere.
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker + "-latest"}))
    assert wait_for(lambda: attempts(server, name, marker + "-latest"), 30)
    time.sleep(1)
    assert len(records(server, target)) == 1


def test_an_event_older_than_its_maximum_age_goes_to_on_failure(lam, server):
    name, fn_arn = function(lam, FAILING)
    target, target_arn = function(lam, RECORDER)
    # 60 s of Lambda's clock: 1 s on this server; the retry after 1 s finds the event too old.
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60,
                                         DestinationConfig={"OnFailure": {"Destination": target_arn}})
    marker = unique("m")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker}))
    got = wait_for(lambda: records(server, target), 60)
    assert len(got) == 1, got
    record = got[0]
    tried = len(attempts(server, name, marker))
    assert tried < 3, "aged out before the retries ran out"
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == tried
    assert record["requestPayload"] == {"marker": marker}
    assert "responsePayload" not in record
    time.sleep(3)
    assert len(attempts(server, name, marker)) == tried


def test_a_destination_of_another_service_is_accepted_and_said_not_delivered(lam, server):
    name, _ = function(lam, FAILING)
    queue = "arn:aws:sqs:us-east-1:123456789012:dead-letters"
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": queue}})
    marker = unique("m")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"marker": marker}))
    line = wait_for(lambda: [l for l in server.log_path.read_text(errors="replace").splitlines()
                             if "destination record not delivered" in l and queue in l], 30)
    assert line, "the server says the record was not delivered"
    assert "archfn has no sqs service" in line[0]
    assert attempts(server, name, marker) == [f"attempt {marker}"], "MaximumRetryAttempts=0: one attempt"
