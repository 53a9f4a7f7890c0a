#!/usr/bin/env bash
# GetFunction latency through the server with metadata in PostgreSQL, with the node's metadata
# cache (kept coherent by LISTEN/NOTIFY) and without it (ARCHFN_METADATA_CACHE=off), in one
# run; SQLite with its cache beside them. Plain HTTP with keep-alive (no SDK in the figure).
# Usage: scripts/bench-metadata-cache.sh [REQUESTS]   (ARCHFN_BIN: the archfn binary to run,
# default target/release/archfn)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-3000}"
bin="${ARCHFN_BIN:-target/release/archfn}"
pg="$(scripts/postgres.sh start)"
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run() {  # label, store, cache on|off
  local p db store="$2"
  p=$(port)
  if [ "$store" = postgres ]; then
    db="bench_cache_$$_$3"
    psql -qX "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
    store="$pg/$db"
  fi
  ARCHFN_METADATA_CACHE="$3" "$bin" serve --listen "127.0.0.1:$p" --data-dir "$work/$1" --store "$store" \
    2>"$work/$1.log" &
  local pid=$!
  python3 - "$p" "$n" "$1" <<'PY'
import http.client, io, json, statistics, sys, time, zipfile
port, n, label = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for _ in range(200):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10); c.request("GET", "/healthz"); c.getresponse().read(); break
    except OSError:
        time.sleep(0.05)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(e, c):\n    return e\n")
import base64
body = json.dumps({"FunctionName": "f", "Runtime": "python3.12", "Role": "arn:aws:iam::000000000000:role/r",
                   "Handler": "app.handler", "Code": {"ZipFile": base64.b64encode(buf.getvalue()).decode()}})
c.request("POST", "/2015-03-31/functions", body=body, headers={"Content-Type": "application/json"})
r = c.getresponse(); r.read(); assert r.status == 201, r.status
times = []
for i in range(n + 200):
    t = time.perf_counter()
    c.request("GET", "/2015-03-31/functions/f")
    r = c.getresponse(); r.read()
    if i >= 200:
        times.append((time.perf_counter() - t) * 1000)
    assert r.status == 200, r.status
times.sort()
print(f"| {label} | {n} | {statistics.median(times):.3f} | {times[int(len(times) * 0.99)]:.3f} |")
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "| store, cache | requests | GetFunction p50 ms | p99 ms |"
echo "|---|---|---|---|"
run sqlite-cache sqlite on
run postgres-cache postgres on
run postgres-nocache postgres off
