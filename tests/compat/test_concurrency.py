"""Concurrency as Lambda counts it: reserved concurrency caps a function's simultaneous
invocations; every other function shares the account's unreserved pool; over either, Invoke
answers 429 TooManyRequestsException with Lambda's Reason."""

import json
from concurrent.futures import ThreadPoolExecutor

import botocore.exceptions
import pytest

from conftest import create, make_zip, server_fixture

SLEEPY = """
import time
def handler(event, context):
    time.sleep(event.get("seconds", 0))
    return {"ok": True}
"""


def burst(lam, names, seconds):
    """Invokes every name at once; returns (successes, throttle reasons, other errors)."""
    def one(name):
        try:
            r = lam.invoke(FunctionName=name, Payload=json.dumps({"seconds": seconds}))
            return ("ok", json.loads(r["Payload"].read()))
        except botocore.exceptions.ClientError as e:
            return ("error", e.response)
    with ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(one, names))
    ok = [r for kind, r in results if kind == "ok"]
    throttled = [r for kind, r in results if kind == "error" and r["Error"]["Code"] == "TooManyRequestsException"]
    other = [r for kind, r in results if kind == "error" and r["Error"]["Code"] != "TooManyRequestsException"]
    return ok, throttled, other


def test_reserved_concurrency_caps_a_function(lam, runtimes):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": SLEEPY}),
                     Handler="app.handler", Timeout=30)
    lam.invoke(FunctionName=name, Payload=b"{}")  # warm one environment
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    ok, throttled, other = burst(lam, [name] * 3, seconds=3)
    assert not other, other
    assert len(ok) == 1 and len(throttled) == 2
    for t in throttled:
        assert t["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert t["Error"]["Message"] == "Rate Exceeded."
        assert t["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    # The slot is given back when the invocation answers.
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()) == {"ok": True}


small_account = server_fixture("--account-concurrency", "3", prefix="archfn-quota-")


def test_the_account_pool_is_shared_by_unreserved_functions(small_account):
    lam = small_account
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 3 and settings["UnreservedConcurrentExecutions"] == 3
    names = []
    for _ in range(2):
        name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": SLEEPY}),
                         Handler="app.handler", Timeout=30)
        names.append(name)
    ok, throttled, other = burst(lam, [names[0], names[1], names[0], names[1], names[0]], seconds=4)
    assert not other, other
    assert len(ok) == 3 and len(throttled) == 2
    assert {t["Reason"] for t in throttled} == {"ConcurrentInvocationLimitExceeded"}
    # No reservation may take the pool below its minimum (the whole account, when it is this small).
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_function_concurrency(FunctionName=names[0], ReservedConcurrentExecutions=1)
    assert "below its minimum value of [3]" in e.value.response["Error"]["Message"]
