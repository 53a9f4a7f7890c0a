"""Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfigs with Lambda's shapes and
errors, and its behaviour: environments initialised before the first invoke (READY), that invoke not a
cold start and run with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency, FAILED with Lambda's
reason for a function whose init raises, released when the configuration is deleted, and counted in
the account's concurrency."""

import base64
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import create, make_zip, unique

ACCOUNT = ["000000000000"]

REPORTER = """
import os
INIT = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
def handler(event, context):
    return {"init": INIT, "now": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
"""

BROKEN = """
raise RuntimeError("init refuses")
def handler(event, context):
    return "never"
"""


def error_of(excinfo):
    e = excinfo.value.response
    return e["Error"]["Code"], e["Error"]["Message"], e["ResponseMetadata"]["HTTPStatusCode"]


def arn(name, qualifier=None):
    base = f"arn:aws:lambda:us-east-1:{ACCOUNT[0]}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def published(lam, source=REPORTER):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": source}), Handler="app.handler")
    version = lam.publish_version(FunctionName=name)["Version"]
    return name, version


def wait_status(lam, name, qualifier, wanted, seconds=90):
    deadline = time.time() + seconds
    while True:
        c = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if c["Status"] in wanted or time.time() > deadline:
            return c
        time.sleep(0.2)


def report_line(invoke_response):
    log = base64.b64decode(invoke_response["LogResult"]).decode()
    return next(l for l in log.splitlines() if l.startswith("REPORT"))


@pytest.fixture(scope="module")
def lam(server, runtimes):
    client = server.client()
    name, _ = create(client, runtime="python3.11", arch="x86_64")
    ACCOUNT[0] = client.get_function_configuration(FunctionName=name)["FunctionArn"].split(":")[4]
    return client


def test_errors_as_lambda_words_them(lam, server):
    name, version = published(lam)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
    assert error_of(e) == ("InvalidParameterValueException",
                           "Provisioned Concurrency Configs cannot be applied to unpublished function versions.", 400)
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")
    assert error_of(e) == ("InvalidParameterValueException",
                           "The function resource provided must be an alias or a published version.", 400)
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    assert error_of(e) == ("ProvisionedConcurrencyConfigNotFoundException",
                           "No Provisioned Concurrency Config found for this function", 404)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="99", ProvisionedConcurrentExecutions=1)
    assert error_of(e) == ("ResourceNotFoundException", f"Function not found: {arn(name, '99')}", 404)
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="nope")
    assert error_of(e) == ("ResourceNotFoundException", f"Cannot find alias arn: {arn(name, 'nope')}", 404)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=unique("absent"), Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert error_of(e)[0] == "ResourceNotFoundException"
    raw = server.client(validate=False)
    with pytest.raises(ClientError) as e:
        raw.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=0)
    assert error_of(e) == ("ValidationException",
                           "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' failed to satisfy "
                           "constraint: Member must have value greater than or equal to 1", 400)
    # Limits: the function's reservation, then the account's unreserved pool.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=2)
    assert error_of(e) == ("InvalidParameterValueException",
                           "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function", 400)
    lam.delete_function_concurrency(FunctionName=name)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1001)
    assert error_of(e) == ("InvalidParameterValueException",
                           "Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [1000].", 400)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=950)
    assert error_of(e) == ("InvalidParameterValueException",
                           "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
                           "below its minimum value of [100].", 400)
    # A version and an alias of it cannot both be provisioned.
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    assert error_of(e) == ("ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias", 409)
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    assert error_of(e) == ("ResourceConflictException",
                           "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version", 409)
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    # An alias of $LATEST is not a published version either.
    lam.create_alias(FunctionName=name, Name="edge", FunctionVersion="$LATEST")
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="edge", ProvisionedConcurrentExecutions=1)
    assert error_of(e) == ("InvalidParameterValueException",
                           "Provisioned Concurrency Configs cannot be applied to unpublished function versions.", 400)


def test_ready_before_the_first_invoke_which_is_not_a_cold_start(lam):
    before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    name, version = published(lam)
    put = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=2)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] == "IN_PROGRESS"
    assert put["AvailableProvisionedConcurrentExecutions"] == 0
    assert put["LastModified"].endswith("+0000")
    ready = wait_status(lam, name, version, {"READY", "FAILED"})
    assert ready["Status"] == "READY", ready
    assert ready["AvailableProvisionedConcurrentExecutions"] == 2
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2
    assert "StatusReason" not in ready
    # The account's pool holds them.
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before - 2
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [(c["FunctionArn"], c["Status"], c["RequestedProvisionedConcurrentExecutions"]) for c in listed] == [
        (arn(name, version), "READY", 2)]

    first = lam.invoke(FunctionName=name, Qualifier=version, LogType="Tail")
    body = json.loads(first["Payload"].read())
    assert body == {"init": "provisioned-concurrency", "now": "provisioned-concurrency"}
    assert "Init Duration" not in report_line(first), report_line(first)
    # $LATEST has none: an on-demand cold start.
    cold = lam.invoke(FunctionName=name, LogType="Tail")
    assert json.loads(cold["Payload"].read())["init"] == "on-demand"
    assert "Init Duration" in report_line(cold)

    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    assert error_of(e)[0] == "ProvisionedConcurrencyConfigNotFoundException"
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before
    # Released by the reconciler: the version's next invocation starts an on-demand environment.
    deadline = time.time() + 20
    while True:
        r = lam.invoke(FunctionName=name, Qualifier=version, LogType="Tail")
        if json.loads(r["Payload"].read())["init"] == "on-demand" or time.time() > deadline:
            break
        time.sleep(0.5)
    assert "Init Duration" in report_line(r)


def test_an_alias_provisions_its_version(lam):
    name, version = published(lam)
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="prod", ProvisionedConcurrentExecutions=1)
    ready = wait_status(lam, name, "prod", {"READY", "FAILED"})
    assert ready["Status"] == "READY", ready
    r = lam.invoke(FunctionName=name, Qualifier="prod", LogType="Tail")
    assert json.loads(r["Payload"].read())["init"] == "provisioned-concurrency"
    assert "Init Duration" not in report_line(r)
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"] for c in listed] == [arn(name, "prod")]
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")


def test_an_init_that_raises_fails_the_configuration(lam):
    name, version = published(lam, BROKEN)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    failed = wait_status(lam, name, version, {"READY", "FAILED"})
    assert failed["Status"] == "FAILED", failed
    assert failed["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert failed["AvailableProvisionedConcurrentExecutions"] == 0
    # It stays failed (Lambda does not retry it on its own).
    time.sleep(1.5)
    assert lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)["Status"] == "FAILED"


def test_an_alias_moved_to_another_version_is_provisioned_there(lam):
    name, v1 = published(lam)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": REPORTER + "\n# second version\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion=v1)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="prod", ProvisionedConcurrentExecutions=1)
    assert wait_status(lam, name, "prod", {"READY", "FAILED"})["Status"] == "READY"
    lam.update_alias(FunctionName=name, Name="prod", FunctionVersion=v2)
    time.sleep(1.5)
    assert wait_status(lam, name, "prod", {"READY", "FAILED"})["Status"] == "READY"
    r = lam.invoke(FunctionName=name, Qualifier="prod", LogType="Tail")
    assert r["ExecutedVersion"] == v2
    assert json.loads(r["Payload"].read())["init"] == "provisioned-concurrency"
    assert "Init Duration" not in report_line(r)
    # The first version's environments were released: it starts on demand.
    r = lam.invoke(FunctionName=name, Qualifier=v1, LogType="Tail")
    assert json.loads(r["Payload"].read())["init"] == "on-demand"


def test_configurations_are_brought_up_again_at_start(lam, server):
    name, version = published(lam)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    assert wait_status(lam, name, version, {"READY", "FAILED"})["Status"] == "READY"
    server.kill()
    server.start()
    time.sleep(1)
    assert wait_status(lam, name, version, {"READY", "FAILED"})["Status"] == "READY"
    r = lam.invoke(FunctionName=name, Qualifier=version, LogType="Tail")
    assert json.loads(r["Payload"].read())["init"] == "provisioned-concurrency"
    assert "Init Duration" not in report_line(r)
