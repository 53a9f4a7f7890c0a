#!/usr/bin/env bash
# The console (issue 17): the server time of the functions list with 1,000 functions (target:
# under 50 ms), with ListFunctions of the same 1,000 (MaxItems 1,000, one page) measured in the same
# run as the peer: both read the same functions through the same use case; the page adds its
# readiness verdicts (from the background cache) and the HTML. Loopback, one kept-alive connection,
# alternating request by request.
#   scripts/bench-console.sh            writes bench-out/console.md
#   ARCHFN_BENCH_FUNCTIONS=200 scripts/bench-console.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build --release"
cargo build --release -p archfn-server
out=bench-out; mkdir -p "$out"
n=${ARCHFN_BENCH_FUNCTIONS:-1000}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/archfn serve --listen "127.0.0.1:$port" --data-dir "$work/archfn" --runtimes-dir target/bench-runtimes 2>"$work/archfn.log" &
for _ in $(seq 600); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
echo "==> creating $n functions"
.venv/bin/python - "$port" "$n" > "$out/console.md" <<'PY'
import http.client, io, statistics, sys, time, zipfile
from concurrent.futures import ThreadPoolExecutor
import boto3

port, n = int(sys.argv[1]), int(sys.argv[2])
lam = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return 'ok'\n")
code = buf.getvalue()

def make(i):
    lam.create_function(FunctionName=f"bench-console-{i:04d}", Runtime="python3.12", Role="arn:aws:iam::123456789012:role/bench",
                        Handler="app.handler", Code={"ZipFile": code}, Architectures=["arm64" if i % 4 == 0 else "x86_64"])

with ThreadPoolExecutor(8) as pool:
    list(pool.map(make, range(n)))
print(f"created {n} functions", file=sys.stderr)
conn = http.client.HTTPConnection("127.0.0.1", port)

def page():
    conn.request("GET", "/console/")
    r = conn.getresponse(); body = r.read()
    assert r.status == 200 and body.count(b"<tr>") == n + 1, (r.status, body.count(b"<tr>"))

def listing():
    conn.request("GET", "/2015-03-31/functions/?MaxItems=1000")
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status

# Let the background scans finish, so the page is measured as it is once they have.
deadline = time.time() + 600
while time.time() < deadline:
    conn.request("GET", "/console/?readiness=pending")
    r = conn.getresponse(); body = r.read()
    if body.count(b"<tr>") == 1:
        break
    time.sleep(1)
times = {"console functions list": [], "ListFunctions (1,000)": []}
for i in range(100):
    pair = [("console functions list", page), ("ListFunctions (1,000)", listing)]
    if i % 2:
        pair.reverse()
    for name, f in pair:
        t0 = time.perf_counter(); f(); times[name].append((time.perf_counter() - t0) * 1000)

def q(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]
print(f"The functions list with {n} functions against ListFunctions of the same (100 requests each, alternating):\n")
print("| | p50 ms | p90 ms | p99 ms |")
print("|---|---|---|---|")
for name, v in times.items():
    print(f"| {name} | {statistics.median(v):.2f} | {q(v, 0.9):.2f} | {q(v, 0.99):.2f} |")
print(f"\nConsole list p50: {statistics.median(times['console functions list']):.1f} ms (target: under 50 ms); "
      f"{statistics.median(times['console functions list']) / statistics.median(times['ListFunctions (1,000)']):.2f}x ListFunctions")
PY
cat "$out/console.md"
