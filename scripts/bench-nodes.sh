#!/usr/bin/env bash
# Forwarded against local invokes on loopback: a front node and an x86_64 worker of a capacity
# provider share one data directory; the same warm C function (a static x86_64 `bootstrap`) is
# invoked through the front node, which forwards it to the worker, and on the worker itself,
# where it runs locally; alternating rounds, medians over them. The difference of the p50s is
# what forwarding adds. Writes bench-out/nodes.{jsonl,md}. Needs root (sandboxes, cgroups).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${ARCHFN_BENCH_NO_BUILD:-}" ]; then
  echo "==> cargo build --release"
  cargo build --release -p archfn-server -p archfn-bench
fi
out=bench-out; mkdir -p "$out"; rm -f "$out/nodes.jsonl"
rounds=${ARCHFN_BENCH_ROUNDS:-5}
ops=${ARCHFN_BENCH_OPS:-2000}
bin=${ARCHFN_BIN:-target/release/archfn}
bench=${ARCHFN_BENCH_BIN:-target/release/archfn-bench}
rt=${ARCHFN_BENCH_RUNTIMES:-target/bench-runtimes}
py=${ARCHFN_BENCH_PYTHON:-.venv/bin/python}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; sleep 0.5; rm -rf "$work"' EXIT
"$bin" runtime install provided.al2023 --arch x86_64 --runtimes-dir "$rt" >/dev/null  # no-op when current
port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
secret=bench-cluster-secret-0123456789

fp=$(port); front="http://127.0.0.1:$fp"
"$bin" serve --listen "127.0.0.1:$fp" --data-dir "$work/data" --runtimes-dir "$rt" \
  --cluster-secret "$secret" 2>"$work/front.log" &
wait_up "$front/healthz"
cc -static -O2 -o "$work/bootstrap" tests/functions/c-runtime/bootstrap.c
"$py" - "$front" "$work" <<'PY'
import io, sys, zipfile, boto3
ep, work = sys.argv[1], sys.argv[2]
lam = boto3.client("lambda", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
cp = lam.create_capacity_provider(
    CapacityProviderName="bench-pool", VpcConfig={"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
    PermissionsConfig={"CapacityProviderOperatorRoleArn": "arn:aws:iam::123456789012:role/op"},
    InstanceRequirements={"Architectures": ["x86_64"]})["CapacityProvider"]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as f:
    info = zipfile.ZipInfo("bootstrap"); info.external_attr = 0o100755 << 16; info.compress_type = zipfile.ZIP_DEFLATED
    f.writestr(info, open(f"{work}/bootstrap", "rb").read())
lam.create_function(FunctionName="c-x86_64", Runtime="provided.al2023", Role="arn:aws:iam::123456789012:role/bench",
                    Handler="bootstrap", Code={"ZipFile": buf.getvalue()}, MemorySize=1024, Timeout=60,
                    CapacityProviderConfig={"LambdaManagedInstancesCapacityProviderConfig": {
                        "CapacityProviderArn": cp["CapacityProviderArn"]}})
lam.get_waiter("function_active_v2").wait(FunctionName="c-x86_64", WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
PY
wp=$(port); worker="http://127.0.0.1:$wp"
"$bin" serve --listen "127.0.0.1:$wp" --data-dir "$work/data" --runtimes-dir "$rt" \
  --cluster-secret "$secret" --role worker --capacity-provider bench-pool 2>"$work/worker.log" &
wait_up "$worker/healthz"
# The front node reads the live nodes every second; wait until it forwards.
for _ in $(seq 100); do
  placement=$(curl -s -D - -o /dev/null -X POST -d '{}' "$front/2015-03-31/functions/c-x86_64/invocations" \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="x-archfn-placement"{print $2}')
  [ "$placement" = forwarded ] && break
  sleep 0.2
done
[ "$placement" = forwarded ] || { echo "the front node does not forward" >&2; exit 1; }
j="$out/nodes.jsonl"
echo "==> warm invokes: forwarded (through the front node) and local (on the worker), alternating, $rounds rounds"
for i in $(seq "$rounds"); do
  $bench warm --url "$front/2015-03-31/functions/c-x86_64/invocations" --label "forwarded" --ops "$ops" \
    --concurrency 1,4 --json-out "$j" >/dev/null
  $bench warm --url "$worker/2015-03-31/functions/c-x86_64/invocations" --label "local" --ops "$ops" \
    --concurrency 1,4 --json-out "$j" >/dev/null
done
"$py" - "$j" > "$out/nodes.md" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = defaultdict(list)
for r in rows:
    groups[(r["target"], r["concurrency"])].append(r)
med = lambda rs, k: statistics.median(r[k] for r in rs)
print("| invoke | concurrency | rounds | ops per round | ops/s | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|---|")
for (t, c), rs in sorted(groups.items()):
    print(f"| {t} | {c} | {len(rs)} | {rs[0]['ops']} | {med(rs, 'ops_per_s'):.1f} | {med(rs, 'p50_ms'):.3f} | {med(rs, 'p99_ms'):.3f} |")
print()
for c in (1, 4):
    f, l = groups.get(("forwarded", c)), groups.get(("local", c))
    if f and l:
        added = sorted(x["p50_ms"] - y["p50_ms"] for x, y in zip(f, l))
        print(f"Concurrency {c}: forwarding adds {statistics.median(added):.3f} ms to the p50 "
              f"(median of the rounds' differences; {added[0]:.3f} to {added[-1]:.3f}).")
PY
cat "$out/nodes.md"
