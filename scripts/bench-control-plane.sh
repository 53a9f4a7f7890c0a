#!/usr/bin/env bash
# Control-plane throughput of archfn next to moto's server, same client (aws-sdk-lambda), same run.
# Writes bench-out/control-plane.{md,jsonl}. Usage: scripts/bench-control-plane.sh [--ops N] [--listings N]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
.venv/bin/python -c 'import moto.server' 2>/dev/null || .venv/bin/python -m pip install -q --disable-pip-version-check 'moto[server]'
echo "==> cargo build --release"
cargo build --release -p archfn-server -p archfn-bench

out=bench-out; mkdir -p "$out"; rm -f "$out/control-plane.jsonl"
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1" >&2; exit 1; }

a=$(port); target/release/archfn serve --listen "127.0.0.1:$a" --data-dir "$work/archfn" 2>"$work/archfn.log" &
m=$(port); .venv/bin/python -m moto.server -p "$m" >"$work/moto.log" 2>&1 &
wait_up "http://127.0.0.1:$a/healthz"; wait_up "http://127.0.0.1:$m/moto-api/"
role=$(.venv/bin/python - "$m" <<'PY'
import json, sys, boto3
iam = boto3.client("iam", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}", region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")
print(iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))["Role"]["Arn"])
PY
)
echo "==> archfn (progress on stderr)"
target/release/archfn-bench control --endpoint "http://127.0.0.1:$a" --label archfn --role "$role" --json-out "$out/control-plane.jsonl" "$@" > "$work/archfn.md"
echo "==> moto"
target/release/archfn-bench control --endpoint "http://127.0.0.1:$m" --label moto --role "$role" --json-out "$out/control-plane.jsonl" "$@" > "$work/moto.md"
.venv/bin/python - "$out/control-plane.jsonl" > "$out/control-plane.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["target"], r["op"], r["concurrency"]): r for r in rows}
print("| operation | concurrency | archfn ops/s | moto ops/s | ratio | archfn p50 / p99 ms | moto p50 / p99 ms |")
print("|---|---|---|---|---|---|---|")
for (t, op, c), r in by.items():
    if t != "archfn":
        continue
    m = by[("moto", op, c)]
    print(f"| {op} | {c} | {r['ops_per_s']:.1f} | {m['ops_per_s']:.1f} | {r['ops_per_s'] / m['ops_per_s']:.1f}x "
          f"| {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | {m['p50_ms']:.2f} / {m['p99_ms']:.2f} |")
PY
cat "$out/control-plane.md"
