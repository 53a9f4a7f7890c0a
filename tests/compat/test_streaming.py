"""Response streaming: InvokeWithResponseStream read with boto3 (botocore decodes AWS's event
stream, checking its CRCs), against the real Node.js runtime's `awslambda.streamifyResponse`, a
custom `bootstrap` that speaks the Runtime API's streaming mode itself, and an arm64 function
under emulation."""

import base64
import http.client
import json
import time
import urllib.parse

import botocore.exceptions
import pytest

from conftest import create, make_zip, server_fixture

# Both Node.js runtimes are past AWS's "block function create" date.
lam = server_fixture("--runtime-policy-date", "2026-01-01", prefix="archfn-stream-")

STREAMING = """
const { pipeline } = require("stream/promises");
const { Readable } = require("stream");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

exports.slow = awslambda.streamifyResponse(async (event, responseStream, context) => {
  console.log("streaming for", context.awsRequestId);
  responseStream.write("first ");
  await sleep(2000);
  responseStream.write("second");
  responseStream.end();
});

exports.throws = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write("partial");
  await sleep(200);
  throw new TypeError("broke mid-stream");
});

exports.piped = awslambda.streamifyResponse(async (event, responseStream) => {
  const http = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 201,
    headers: { "Content-Type": "text/plain" },
    cookies: ["a=1"],
  });
  await pipeline(Readable.from(["one", "two", "three"]), http);
});

exports.arch = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write(process.arch);
  await sleep(1500);
  responseStream.end(" done");
});

exports.hangs = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.write("begun");
  await new Promise(() => {});
});

exports.buffered = async (event) => ({ buffered: true, event });
exports.fails = async () => { throw new RangeError("plain failure"); };
"""

# A custom runtime in bash: the event comes through curl, the answer goes out in the Runtime
# API's streaming mode over bash's /dev/tcp, written chunk by chunk, with an error in the trailers
# when the event asks for one.
BOOTSTRAP = r"""#!/bin/bash
set -uo pipefail
api="${AWS_LAMBDA_RUNTIME_API}"
host="${api%:*}"; port="${api#*:}"
chunk () { printf '%x\r\n%s\r\n' "${#1}" "$1" >&3; }
while true; do
  headers="$(mktemp)"
  event=$(curl -sS -D "$headers" "http://${api}/2018-06-01/runtime/invocation/next")
  id=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d: -f2 | tr -d '[:space:]')
  exec 3<>"/dev/tcp/${host}/${port}"
  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: %s\r\nLambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\nTrailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\nConnection: close\r\n\r\n' "$id" "$api" >&3
  chunk "hello from $(uname -m);"
  sleep 2
  chunk " event=$event"
  if [[ "$event" == *fail* ]]; then
    body=$(printf '{"errorType":"Custom.Failure","errorMessage":"bootstrap gave up"}' | base64 -w0)
    printf '0\r\nLambda-Runtime-Function-Error-Type: Custom.Failure\r\nLambda-Runtime-Function-Error-Body: %s\r\n\r\n' "$body" >&3
  else
    printf '0\r\n\r\n' >&3
  fi
  cat <&3 >/dev/null
  exec 3<&-
done
"""


def stream(lam, name, payload=b"{}", **kw):
    """Invokes `name` with InvokeWithResponseStream; returns the response, the events with the
    time each arrived (seconds since the call), and when the call was made."""
    started = time.monotonic()
    r = lam.invoke_with_response_stream(FunctionName=name, Payload=payload, **kw)
    events = [(time.monotonic() - started, e) for e in r["EventStream"]]
    return r, events


def chunks(events):
    return [e["PayloadChunk"]["Payload"] for _, e in events if "PayloadChunk" in e]


def complete(events):
    ends = [e["InvokeComplete"] for _, e in events if "InvokeComplete" in e]
    assert len(ends) == 1 and "InvokeComplete" in events[-1][1], events
    return ends[0]


@pytest.fixture(scope="module")
def node_fn(lam, runtimes):
    name, _ = create(lam, runtime="nodejs20.x", arch="x86_64", zip_bytes=make_zip({"index.js": STREAMING}),
                     Handler="index.slow", Timeout=30)
    return name


def with_handler(lam, handler, arch="x86_64", timeout=30):
    name, _ = create(lam, runtime="nodejs20.x", arch=arch, zip_bytes=make_zip({"index.js": STREAMING}),
                     Handler=handler, Timeout=timeout)
    return name


def test_chunks_reach_the_client_as_the_function_writes_them(lam, node_fn):
    r, events = stream(lam, node_fn)
    assert r["StatusCode"] == 200
    assert r["ExecutedVersion"] == "$LATEST"
    headers = r["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "application/vnd.amazon.eventstream"
    assert headers["x-archfn-execution"] == "native"
    assert b"".join(chunks(events)) == b"first second"
    first_at = next(t for t, e in events if "PayloadChunk" in e)
    end_at = events[-1][0]
    # The function sleeps 2 s between its writes: the first chunk is read well before the end.
    assert end_at - first_at > 1.5, events
    assert complete(events).get("ErrorCode") is None


def test_log_type_tail_gives_the_log_in_invoke_complete(lam, node_fn):
    r, events = stream(lam, node_fn, LogType="Tail")
    done = complete(events)
    log = base64.b64decode(done["LogResult"]).decode()
    request_id = r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert f"START RequestId: {request_id}" in log
    assert f"streaming for {request_id}" in log
    assert f"REPORT RequestId: {request_id}" in log and "Execution: native" in log
    assert "LogResult" not in complete(stream(lam, node_fn)[1])


def test_a_handler_that_throws_mid_stream_ends_with_its_error(lam):
    name = with_handler(lam, "index.throws")
    r, events = stream(lam, name, LogType="Tail")
    assert chunks(events) == [b"partial"]
    done = complete(events)
    assert done["ErrorCode"] == "TypeError"
    assert done["ErrorDetails"] == "broke mid-stream"
    assert "TypeError: broke mid-stream" in base64.b64decode(done["LogResult"]).decode()
    # A handler's error keeps the environment, as on Lambda; the next invocation streams again.
    _, events = stream(lam, name)
    assert chunks(events) == [b"partial"] and complete(events)["ErrorCode"] == "TypeError"


def test_the_timeout_ends_a_stream_that_does_not_end(lam):
    name = with_handler(lam, "index.hangs", timeout=2)
    r, events = stream(lam, name, LogType="Tail")
    assert chunks(events) == [b"begun"]
    done = complete(events)
    request_id = r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert done["ErrorCode"] == "Sandbox.Timedout"
    assert done["ErrorDetails"] == f"RequestId: {request_id} Error: Task timed out after 2.00 seconds"
    log = base64.b64decode(done["LogResult"]).decode()
    assert "Task timed out after 2.00 seconds" in log and "Status: timeout" in log


def test_a_function_that_does_not_stream_is_one_chunk(lam):
    name = with_handler(lam, "index.buffered")
    _, events = stream(lam, name, payload=json.dumps({"k": 1}))
    assert [e for _, e in events][0] == {"PayloadChunk": {"Payload": b'{"buffered":true,"event":{"k":1}}'}}
    assert len(events) == 2 and complete(events).get("ErrorCode") is None
    name = with_handler(lam, "index.fails")
    _, events = stream(lam, name)
    assert chunks(events) == []
    done = complete(events)
    assert (done["ErrorCode"], done["ErrorDetails"]) == ("RangeError", "plain failure")


def test_http_response_stream_writes_its_prelude_and_pipelines_work(lam):
    name = with_handler(lam, "index.piped")
    _, events = stream(lam, name)
    body = b"".join(chunks(events))
    prelude, rest = body.split(b"\0" * 8, 1)
    assert json.loads(prelude) == {"statusCode": 201, "headers": {"Content-Type": "text/plain"}, "cookies": ["a=1"]}
    assert rest == b"onetwothree"


def streaming_url(lam, handler):
    """A public RESPONSE_STREAM function URL of a new function running `handler`: its host and
    the server's port."""
    name = with_handler(lam, handler)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*")
    split = urllib.parse.urlsplit(url)
    return split.netloc, split.port


def url_get(host, port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.monotonic()
    conn.request("GET", "/", headers={"Host": host})
    return conn.getresponse(), started


def test_a_response_stream_url_sends_the_body_as_the_function_writes_it(lam):
    host, port = streaming_url(lam, "index.slow")
    r, started = url_get(host, port)
    assert r.status == 200
    assert r.getheader("content-type") == "application/octet-stream"
    assert r.getheader("x-archfn-execution") == "native"
    first = r.read(6)
    first_at = time.monotonic() - started
    rest = r.read()
    end_at = time.monotonic() - started
    assert (first, rest) == (b"first ", b"second")
    # The function sleeps 2 s between its writes: the client has the first bytes long before the end.
    assert end_at - first_at > 1.5, (first_at, end_at)


def test_a_response_stream_url_answers_with_the_http_prelude(lam):
    host, port = streaming_url(lam, "index.piped")
    r, _ = url_get(host, port)
    assert r.status == 201
    assert r.getheader("content-type") == "text/plain"
    assert r.getheader("set-cookie") == "a=1"
    assert r.read() == b"onetwothree"


def test_a_response_stream_url_maps_whole_answers_and_failures(lam):
    host, port = streaming_url(lam, "index.buffered")
    r, _ = url_get(host, port)
    assert r.status == 200 and r.getheader("content-type") == "application/json"
    assert json.loads(r.read())["buffered"] is True
    host, port = streaming_url(lam, "index.fails")
    r, _ = url_get(host, port)
    assert (r.status, r.read()) == (502, b"Internal Server Error")


def test_plain_invoke_of_a_streaming_function_is_buffered(lam, node_fn):
    r = lam.invoke(FunctionName=node_fn, Payload=b"{}")
    assert "FunctionError" not in r
    assert r["Payload"].read() == b"first second"


def test_a_custom_bootstrap_streams_through_the_runtime_api(lam, runtimes):
    name, _ = create(lam, runtime="provided.al2023", arch="x86_64", zip_bytes=make_zip({"bootstrap": BOOTSTRAP}, executable=True),
                     Handler="ignored", Timeout=30)
    r, events = stream(lam, name, payload=b'{"n":1}')
    got = chunks(events)
    assert b"".join(got) == b'hello from x86_64; event={"n":1}'
    first_at = next(t for t, e in events if "PayloadChunk" in e)
    assert events[-1][0] - first_at > 1.5, events
    assert complete(events).get("ErrorCode") is None
    _, events = stream(lam, name, payload=b'{"fail":true}')
    assert b"".join(chunks(events)).startswith(b"hello from x86_64;")
    done = complete(events)
    assert (done["ErrorCode"], done["ErrorDetails"]) == ("Custom.Failure", "bootstrap gave up")


def test_an_arm64_function_streams_under_emulation(lam):
    name = with_handler(lam, "index.arch", arch="arm64", timeout=60)
    r, events = stream(lam, name, LogType="Tail")
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-archfn-execution"] == "emulated"
    assert b"".join(chunks(events)) == b"arm64 done"
    first_at = next(t for t, e in events if "PayloadChunk" in e)
    assert events[-1][0] - first_at > 1.0, events
    assert "Execution: emulated" in base64.b64decode(complete(events)["LogResult"]).decode()


def error_of(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_errors_of_the_operation(lam, node_fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_with_response_stream(FunctionName="nope-nope", Payload=b"{}")
    assert error_of(e) == ("ResourceNotFoundException",
                           "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope-nope:$LATEST", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_with_response_stream(FunctionName=node_fn, Qualifier="7", Payload=b"{}")
    assert error_of(e) == ("ResourceNotFoundException",
                           f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{node_fn}:7", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_with_response_stream(FunctionName=node_fn, InvocationType="Event", Payload=b"{}")
    assert error_of(e) == ("ValidationException",
                           "1 validation error detected: Value 'Event' at 'invocationType' failed to satisfy constraint: "
                           "Member must satisfy enum value set: [RequestResponse, DryRun]", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_with_response_stream(FunctionName=node_fn, Payload=b"not json")
    assert error_of(e)[0] == "InvalidRequestContentException"
    r = lam.invoke_with_response_stream(FunctionName=node_fn, InvocationType="DryRun", Payload=b"{}")
    assert r["StatusCode"] == 204
