"""Init beyond Lambda's 10-second window: the init is run again inside the first invoke
("suppressed init"), under the function's timeout, as Lambda does for on-demand functions."""

import base64

from conftest import create, make_zip

SLOW_IMPORT = """
import time
time.sleep(11)
def handler(event, context):
    return {"remaining_ms": context.get_remaining_time_in_millis()}
"""


def tail(r):
    return base64.b64decode(r["LogResult"]).decode()


def test_a_slow_init_is_retried_inside_the_invoke(lam, runtimes):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": SLOW_IMPORT}),
                     Handler="app.handler", Timeout=30)
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    body = r["Payload"].read()
    assert "FunctionError" not in r, body
    log = tail(r)
    assert "Phase: init\tStatus: timeout" in log, log
    report = [l for l in log.splitlines() if l.startswith("REPORT")][0]
    # The retried init is part of the invoke: no Init Duration, and a Duration past 11 s.
    assert "Init Duration" not in report
    duration = float(report.split("Duration: ")[1].split(" ms")[0])
    assert duration > 11_000
    # The environment stays warm afterwards.
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert "FunctionError" not in r and "INIT" not in tail(r)


def test_a_retried_init_is_bounded_by_the_function_timeout(lam, runtimes):
    name, _ = create(lam, runtime="python3.11", arch="x86_64", zip_bytes=make_zip({"app.py": SLOW_IMPORT}),
                     Handler="app.handler", Timeout=4)
    r = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert r["FunctionError"] == "Unhandled"
    body = r["Payload"].read().decode()
    assert "Sandbox.Timedout" in body and "Task timed out after 4.00 seconds" in body
    log = tail(r)
    assert "Phase: init\tStatus: timeout" in log and "Phase: invoke\tStatus: timeout" in log, log
