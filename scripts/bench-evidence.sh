#!/usr/bin/env bash
# What migration evidence costs (issue 11), measured side by side in one run:
# - warm invoke throughput at concurrency 4 (and 1) of a native C function through an alias,
#   on a server recording invocation metrics (durable per-minute figures) and one with
#   `--invocation-metrics off`, alternating round by round; then the same with a traffic shift
#   in progress on the recording server's alias (held at 50%, its watch seeing every call);
# - `archfn compare`'s own orchestration: its measuring time against the time invocations were
#   in flight, from the comparison's timing (x86_64 and arm64, 50 warm invocations each).
#   scripts/bench-evidence.sh        writes bench-out/evidence.{jsonl,md}
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build --release"
cargo build --release -p archfn-server -p archfn-bench
out=bench-out; mkdir -p "$out"; j="$out/evidence.jsonl"; rm -f "$j"
rounds=${ARCHFN_BENCH_ROUNDS:-10}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rt=target/bench-runtimes
for a in x86_64 arm64; do
  target/release/archfn runtime install python3.11 --arch "$a" --runtimes-dir "$rt" >/dev/null
done
target/release/archfn runtime install provided.al2023 --arch x86_64 --runtimes-dir "$rt" >/dev/null
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
pon=$(port); poff=$(port)
target/release/archfn serve --listen "127.0.0.1:$pon" --data-dir "$work/on" --runtimes-dir "$rt" \
  --cpu-limit off 2>"$work/on.log" &
target/release/archfn serve --listen "127.0.0.1:$poff" --data-dir "$work/off" --runtimes-dir "$rt" \
  --cpu-limit off --invocation-metrics off 2>"$work/off.log" &
wait_up "http://127.0.0.1:$pon/healthz"; wait_up "http://127.0.0.1:$poff/healthz"
cc -static -O2 -o "$work/c-x86_64" tests/functions/c-runtime/bootstrap.c
.venv/bin/python - "$work" "http://127.0.0.1:$pon" "http://127.0.0.1:$poff" <<'PY'
import io, sys, zipfile, boto3
work, endpoints = sys.argv[1], sys.argv[2:]
def z(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as f:
        for name, data in files.items():
            info = zipfile.ZipInfo(name); info.external_attr = 0o100755 << 16; info.compress_type = zipfile.ZIP_DEFLATED
            f.writestr(info, data)
    return buf.getvalue()
c = z({"bootstrap": open(f"{work}/c-x86_64", "rb").read()})
py = z({"app.py": "def handler(event, context):\n    return {'sum': sum(range(int(event.get('n', 1000))))}\n"})
for ep in endpoints:
    lam = boto3.client("lambda", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    for name, runtime, code, handler in (("c", "provided.al2023", c, "bootstrap"), ("py", "python3.11", py, "app.handler")):
        lam.create_function(FunctionName=name, Runtime=runtime, Role="arn:aws:iam::123456789012:role/bench",
                            Handler=handler, Code={"ZipFile": code}, Architectures=["x86_64"], MemorySize=1024, Timeout=60)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    for _ in range(2):
        lam.update_function_configuration(FunctionName="c", Description=f"v{_}")
        lam.get_waiter("function_updated_v2").wait(FunctionName="c", WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
        lam.publish_version(FunctionName="c")
    lam.create_alias(FunctionName="c", Name="live", FunctionVersion="1")
PY
bench=target/release/archfn-bench
url() { echo "http://127.0.0.1:$1/2015-03-31/functions/c/invocations?Qualifier=live"; }
echo "==> warm invokes through an alias: recording on and off alternating, $rounds rounds"
# Which server goes first alternates too, so that neither always follows the other.
pair() {
  if [ $(($1 % 2)) -eq 0 ]; then
    $bench warm --url "$(url "$poff")" --label "$2" --json-out "$j" >/dev/null
    $bench warm --url "$(url "$pon")" --label "$3" --json-out "$j" >/dev/null
  else
    $bench warm --url "$(url "$pon")" --label "$3" --json-out "$j" >/dev/null
    $bench warm --url "$(url "$poff")" --label "$2" --json-out "$j" >/dev/null
  fi
}
for i in $(seq "$rounds"); do
  printf '  round %s\r' "$i"
  pair "$i" "off" "on"
done
echo
echo "==> the same with a traffic shift watching the alias (held at 50% for the rounds)"
dep=$(curl -fs -X POST "http://127.0.0.1:$pon/archfn/v1/deployments" -H 'content-type: application/json' \
  -d '{"functionName": "c", "aliasName": "live", "targetVersion": "2", "strategy": "50,100@24h",
       "guardrails": {"maxErrorRate": 1, "maxP99Ratio": 1000}}' | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for i in $(seq "$rounds"); do
  printf '  round %s\r' "$i"
  pair "$i" "off (beside watch)" "on + shift watch"
done
curl -fs -X POST "http://127.0.0.1:$pon/archfn/v1/deployments/$dep/stop" >/dev/null
echo
echo "==> archfn compare: orchestration against the time invocations were in flight"
for i in $(seq 3); do
  .venv/bin/python - "http://127.0.0.1:$pon" "$j" <<'PY'
import json, sys, time, urllib.request
ep, out = sys.argv[1:]
def call(method, path, body=None):
    req = urllib.request.Request(ep + path, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())
job = call("POST", "/archfn/v1/functions/py/comparisons", {"invocations": 50, "cold": 1,
            "payloads": [{"name": "small", "event": {"n": 10}}, {"name": "large", "event": {"n": 200000}}]})
while job["status"] == "Running":
    time.sleep(0.2)
    job = call("GET", f"/archfn/v1/comparisons/{job['id']}")
assert job["status"] == "Succeeded", job
t = job["timing"]
with open(out, "a") as f:
    f.write(json.dumps({"target": "compare", "op": "measuring / invoking", "invocations": t["invocations"],
                        "measuring_ms": t["measuringMs"], "invoking_ms": t["invokingMs"], "engine_ms": t["engineMs"],
                        "preparing_ms": t["preparingMs"], "ratio": t["measuringMs"] / t["engineMs"]}) + "\n")
print(f"  compare: {t['invocations']} invocations, measuring {t['measuringMs']:.0f} ms, in the engine {t['engineMs']:.0f} ms")
PY
done
.venv/bin/python - "$j" > "$out/evidence.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(label, c, key):
    v = [r[key] for r in rows if r.get("target") == label and r.get("concurrency") == c]
    return statistics.median(v) if v else float("nan")
print("| measurement | concurrency | off: ops/s | on: ops/s | on/off | off: p50 ms | on: p50 ms |")
print("|---|---|---|---|---|---|---|")
for off, on, name in (("off", "on", "recording"), ("off (beside watch)", "on + shift watch", "recording + shift watch")):
    for c in (1, 4):
        a, b = med(off, c, "ops_per_s"), med(on, c, "ops_per_s")
        print(f"| {name} | {c} | {a:.0f} | {b:.0f} | {b / a:.3f}x | {med(off, c, 'p50_ms'):.3f} | {med(on, c, 'p50_ms'):.3f} |")
cmp_ = [r for r in rows if r.get("target") == "compare"]
print()
print("| compare run | invocations | measuring ms | Σ invocations in the engine ms | measuring / Σ invocations | publishing ms |")
print("|---|---|---|---|---|---|")
for i, r in enumerate(cmp_, 1):
    print(f"| {i} | {r['invocations']} | {r['measuring_ms']:.0f} | {r['engine_ms']:.0f} | {r['ratio']:.4f} | {r['preparing_ms']:.0f} |")
PY
cat "$out/evidence.md"
