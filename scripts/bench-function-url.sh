#!/usr/bin/env bash
# Function URLs (issue 13): the latency of a request to a function URL (AuthType NONE, payload
# format 2.0, Lambda's response mapping) against an Invoke of the same function, both over one
# kept-alive HTTP connection each from the same client, alternating request by request (the
# order swapped every round), warm native Python. Both are plain HTTP: the Invoke unsigned
# (archfn's default open mode), so the comparison is of the server's two paths, not of a client.
#   scripts/bench-function-url.sh            writes bench-out/function-url.md
#   ARCHFN_BENCH_REQUESTS=4000 scripts/bench-function-url.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build --release"
cargo build --release -p archfn-server
out=bench-out; mkdir -p "$out"
n=${ARCHFN_BENCH_REQUESTS:-2000}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rt=target/bench-runtimes
target/release/archfn runtime install python3.11 --arch x86_64 --runtimes-dir "$rt" >/dev/null
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/archfn serve --listen "127.0.0.1:$port" --data-dir "$work/archfn" --runtimes-dir "$rt" 2>"$work/archfn.log" &
for _ in $(seq 600); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
echo "==> $n requests each, alternating"
.venv/bin/python - "$port" "$n" > "$out/function-url.md" <<'PY'
import http.client, io, json, statistics, sys, time, urllib.parse, zipfile
import boto3

port, n = int(sys.argv[1]), int(sys.argv[2])
lam = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n")
lam.create_function(FunctionName="bench-url", Runtime="python3.11", Role="arn:aws:iam::123456789012:role/bench",
                    Handler="app.handler", Code={"ZipFile": buf.getvalue()}, MemorySize=1024)
lam.get_waiter("function_active_v2").wait(FunctionName="bench-url", WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
url = lam.create_function_url_config(FunctionName="bench-url", AuthType="NONE")["FunctionUrl"]
lam.add_permission(FunctionName="bench-url", StatementId="url", Action="lambda:InvokeFunctionUrl",
                   Principal="*", FunctionUrlAuthType="NONE")
lam.add_permission(FunctionName="bench-url", StatementId="invoke", Action="lambda:InvokeFunction", Principal="*")
host = urllib.parse.urlsplit(url).netloc
body = json.dumps({"k": "v"}).encode()
via_url = http.client.HTTPConnection("127.0.0.1", port)
via_invoke = http.client.HTTPConnection("127.0.0.1", port)

def call_url():
    via_url.request("POST", "/", body=body, headers={"Host": host, "Content-Type": "application/json"})
    r = via_url.getresponse(); r.read()
    assert r.status == 200, r.status

def call_invoke():
    via_invoke.request("POST", "/2015-03-31/functions/bench-url/invocations", body=body)
    r = via_invoke.getresponse(); r.read()
    assert r.status == 200, r.status

for _ in range(50):
    call_url(); call_invoke()
times = {"function URL": [], "Invoke": []}
for i in range(n):
    pair = [("function URL", call_url), ("Invoke", call_invoke)]
    if i % 2:
        pair.reverse()
    for name, f in pair:
        t0 = time.perf_counter(); f(); times[name].append((time.perf_counter() - t0) * 1000)

def q(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]
print(f"Function URL against Invoke, same function (python3.11 x86_64 native, warm, {n} requests each, alternating):\n")
print("| | p50 ms | p90 ms | p99 ms |")
print("|---|---|---|---|")
for name, v in times.items():
    print(f"| {name} | {statistics.median(v):.3f} | {q(v, 0.9):.3f} | {q(v, 0.99):.3f} |")
ratio = statistics.median(times["function URL"]) / statistics.median(times["Invoke"])
print(f"\nFunction URL / Invoke, p50: {ratio:.2f}x (target: within 1.2x)")
PY
cat "$out/function-url.md"
