#!/usr/bin/env bash
# Provisioned concurrency (issue 13): the first invoke after a configuration change, with
# provisioned concurrency against without it. Native Python (python3.11 on x86_64), one run,
# the two alternating round by round (the order swapped every round). Each round changes the
# configuration of both functions (an environment variable) and publishes a version: one gets
# provisioned concurrency 1 on the new version (timed to READY, then the previous version's
# configuration deleted), the other does not; then the first invoke of each new version is
# timed at the client, with its REPORT line's Init Duration.
#   scripts/bench-provisioned.sh        writes bench-out/provisioned.{jsonl,md}
#   ARCHFN_BENCH_ROUNDS=40 scripts/bench-provisioned.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build --release"
cargo build --release -p archfn-server
out=bench-out; mkdir -p "$out"
rounds=${ARCHFN_BENCH_ROUNDS:-20}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rt=target/bench-runtimes
target/release/archfn runtime install python3.11 --arch x86_64 --runtimes-dir "$rt" >/dev/null
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
p=$(port); ep="http://127.0.0.1:$p"
target/release/archfn serve --listen "127.0.0.1:$p" --data-dir "$work/archfn" --runtimes-dir "$rt" 2>"$work/archfn.log" &
wait_up "$ep/healthz"
echo "==> $rounds rounds, alternating"
.venv/bin/python - "$ep" "$rounds" "$out/provisioned.jsonl" > "$out/provisioned.md" <<'PY'
import base64, io, json, statistics, sys, time, zipfile
import boto3
from botocore.config import Config

ep, rounds, jsonl = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lam = boto3.client("lambda", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="x",
                   aws_secret_access_key="x", config=Config(retries={"max_attempts": 0}, read_timeout=120))
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("app.py", "import json\ndef handler(event, context):\n    return event\n")
code = buf.getvalue()
modes = ("provisioned", "on-demand")
for mode in modes:
    lam.create_function(FunctionName=f"bench-{mode}", Runtime="python3.11", Role="arn:aws:iam::123456789012:role/bench",
                        Handler="app.handler", Code={"ZipFile": code}, Architectures=["x86_64"], MemorySize=1024)
    lam.get_waiter("function_active_v2").wait(FunctionName=f"bench-{mode}", WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})

previous = {}
rows = []
out = open(jsonl, "w")
for i in range(rounds):
    order = modes if i % 2 == 0 else tuple(reversed(modes))
    for mode in order:
        name = f"bench-{mode}"
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"ROUND": str(i)}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 1200})
        version = lam.publish_version(FunctionName=name)["Version"]
        ready_ms = None
        if mode == "provisioned":
            t0 = time.perf_counter()
            lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
            while True:
                status = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)["Status"]
                if status != "IN_PROGRESS":
                    break
                time.sleep(0.02)
            ready_ms = (time.perf_counter() - t0) * 1000
            if status != "READY":
                sys.exit(f"provisioned concurrency {status} in round {i}")
            if name in previous:
                lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=previous[name])
            previous[name] = version
        t0 = time.perf_counter()
        r = lam.invoke(FunctionName=name, Qualifier=version, Payload=b'{"round": %d}' % i, LogType="Tail")
        r["Payload"].read()
        first_ms = (time.perf_counter() - t0) * 1000
        report = next(l for l in base64.b64decode(r["LogResult"]).decode().splitlines() if l.startswith("REPORT"))
        init = next((float(f.split(":")[1].split()[0]) for f in report.split("\t") if f.startswith("Init Duration")), None)
        row = {"round": i, "mode": mode, "first_invoke_ms": first_ms, "init_duration_ms": init, "ready_ms": ready_ms}
        rows.append(row)
        out.write(json.dumps(row) + "\n")
        print(f"[{i}] {mode}: first invoke {first_ms:.1f} ms" + (f", READY after {ready_ms:.0f} ms" if ready_ms else ""),
              file=sys.stderr)

def q(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]

print(f"First invoke after a configuration change (python3.11 x86_64 native, 1024 MB, {rounds} rounds, alternating):\n")
print("| | p50 ms | p90 ms | max ms | with Init Duration |")
print("|---|---|---|---|---|")
for mode in modes:
    v = [r["first_invoke_ms"] for r in rows if r["mode"] == mode]
    cold = sum(1 for r in rows if r["mode"] == mode and r["init_duration_ms"] is not None)
    print(f"| {mode} | {statistics.median(v):.1f} | {q(v, 0.9):.1f} | {max(v):.1f} | {cold}/{len(v)} |")
pc = statistics.median(r["first_invoke_ms"] for r in rows if r["mode"] == "provisioned")
od = statistics.median(r["first_invoke_ms"] for r in rows if r["mode"] == "on-demand")
ready = [r["ready_ms"] for r in rows if r["ready_ms"] is not None]
print(f"\nOn-demand / provisioned first invoke, p50: {od / pc:.1f}x")
print(f"Put to READY (polled every 20 ms, reconciler round 500 ms), p50: {statistics.median(ready):.0f} ms, max {max(ready):.0f} ms")
PY
cat "$out/provisioned.md"
