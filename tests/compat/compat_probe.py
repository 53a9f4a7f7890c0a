"""Which operations of the Lambda API model that botocore ships a running archfn serves.

An operation is served when a request to its URI and method is routed to a handler: anything but
`UnknownOperationException` (archfn's answer for a route it does not have) or 405. The request
carries placeholder path values and an empty JSON body, so a served operation usually answers
with a validation or not-found error, which still proves that it is routed.
Used by scripts/compat-table.py (writes docs/compat.md) and test_compat_table.py (checks it).
"""

import re
import urllib.error
import urllib.request

import botocore.session

# Placeholder path values by member name; anything else gets "compat-probe".
PLACEHOLDERS = {
    "VersionNumber": "1",
    "UUID": "00000000-0000-0000-0000-000000000000",
    "Arn": "arn:aws:lambda:us-east-1:123456789012:function:compat-probe",
    "Resource": "arn:aws:lambda:us-east-1:123456789012:function:compat-probe",
    "CodeSigningConfigArn": "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0",
    "DurableExecutionArn": "arn:aws:lambda:us-east-1:123456789012:function:compat-probe:1/durable-execution/a/b",
}

# Why an operation is not served, by the first word group of its name or its whole name.
NOT_SERVED = [
    (re.compile(r"EventSourceMapping"), "event source mappings need queues and streams archfn does not have"),
    # Min/MaxExecutionEnvironments of a `$LATEST.PUBLISHED` or numbered version: Lambda Managed
    # Instances, which run on capacity providers.
    (re.compile(r"FunctionScalingConfig"), "capacity providers (Lambda Managed Instances): a new Lambda feature, out of scope"),
    (re.compile(r"DurableExecution|Callback|CheckpointDurable"), "durable executions: a new Lambda feature, out of scope"),
    (re.compile(r"ProvisionedPoller|NetworkConnector"), "a new Lambda feature, out of scope"),
]


def operations():
    """(name, method, uri) of every operation in the installed botocore's Lambda model."""
    model = botocore.session.get_session().get_service_model("lambda")
    out = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        out.append((name, http["method"], http["requestUri"]))
    return sorted(out)


def probe_path(uri: str) -> str:
    def fill(m):
        return PLACEHOLDERS.get(m.group(1).rstrip("+"), "compat-probe")
    return re.sub(r"\{([^}]+)\}", fill, uri)


def served(endpoint: str, method: str, uri: str) -> bool:
    req = urllib.request.Request(endpoint + probe_path(uri), method=method,
                                 data=b"{}" if method in ("POST", "PUT", "PATCH") else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, kind = r.status, r.headers.get("x-amzn-ErrorType", "")
    except urllib.error.HTTPError as e:
        status, kind = e.code, e.headers.get("x-amzn-ErrorType", "")
    return status != 405 and not kind.startswith("UnknownOperationException")


def why_not(name: str) -> str:
    for pattern, reason in NOT_SERVED:
        if pattern.search(name):
            return reason
    return "not yet"


def table(endpoint: str) -> str:
    """docs/compat.md's table: every operation, whether archfn serves it, and why not."""
    ops = operations()
    rows = []
    count = 0
    for name, method, uri in ops:
        ok = served(endpoint, method, uri)
        count += ok
        rows.append(f"| {name} | `{method} {uri}` | {'yes' if ok else 'no: ' + why_not(name)} |")
    head = [f"archfn serves {count} of the {len(ops)} operations in the Lambda model that botocore "
            f"{botocore.__version__} ships.", "",
            "| Operation | Request | Served |", "|---|---|---|"]
    return "\n".join(head + rows) + "\n"
