#!/usr/bin/env bash
# What confining execution environments costs: the same functions on a baseline archfn (a git
# revision before the confinement, default 226be7e: root in a user namespace, the host's network,
# no freezer, tmpfs /tmp) and on this checkout (its own host uid, uid 993 in a nested user
# namespace, seccomp, its own network namespace with pasta, the freezer, an ext4 /tmp), side by
# side in one run, alternating: native Python and C cold starts, then warm invokes of the C
# function at concurrency 1 and 4 (each thaw and freeze included).
# CPU limits are off on the new build: they are Lambda's semantics, not the sandbox's overhead.
#   scripts/bench-sandbox.sh [BASELINE_REV]      writes bench-out/sandbox.{jsonl,md}
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev="${1:-226be7e}"
scripts/setup.sh --test
echo "==> cargo build --release (this checkout)"
cargo build --release -p archfn-server -p archfn-bench
base_src=target/bench-baseline-src
base_target="$PWD/target/bench-baseline-target"
if [ ! -d "$base_src" ]; then
  git worktree add --detach "$base_src" "$base_rev" >/dev/null
else
  git -C "$base_src" checkout -q --detach "$base_rev"
fi
echo "==> cargo build --release (baseline $base_rev)"
(cd "$base_src" && CARGO_TARGET_DIR="$base_target" cargo build --release -p archfn-server)
out=bench-out; mkdir -p "$out"; j="$out/sandbox.jsonl"; rm -f "$j"
rounds=${ARCHFN_BENCH_ROUNDS:-6}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rt=target/bench-runtimes
target/release/archfn runtime install python3.11 --arch x86_64 --runtimes-dir "$rt" >/dev/null
target/release/archfn runtime install provided.al2023 --arch x86_64 --runtimes-dir "$rt" >/dev/null
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
pb=$(port); pn=$(port)
"$base_target/release/archfn" serve --listen "127.0.0.1:$pb" --data-dir "$work/base" --runtimes-dir "$rt" \
  --runtime-policy-date 2026-01-01 2>"$work/base.log" &
target/release/archfn serve --listen "127.0.0.1:$pn" --data-dir "$work/new" --runtimes-dir "$rt" \
  --runtime-policy-date 2026-01-01 --cpu-limit off 2>"$work/new.log" &
wait_up "http://127.0.0.1:$pb/healthz"; wait_up "http://127.0.0.1:$pn/healthz"
cc -static -O2 -o "$work/c-x86_64" tests/functions/c-runtime/bootstrap.c
.venv/bin/python - "$work" "http://127.0.0.1:$pb" "http://127.0.0.1:$pn" <<'PY'
import io, sys, zipfile, boto3
work, endpoints = sys.argv[1], sys.argv[2:]
def z(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as f:
        for name, data in files.items():
            info = zipfile.ZipInfo(name); info.external_attr = 0o100755 << 16; info.compress_type = zipfile.ZIP_DEFLATED
            f.writestr(info, data)
    return buf.getvalue()
fns = [("py", "python3.11", z({"app.py": "def handler(event, context):\n    return event\n"}), "app.handler"),
       ("c", "provided.al2023", z({"bootstrap": open(f"{work}/c-x86_64", "rb").read()}), "bootstrap")]
for ep in endpoints:
    lam = boto3.client("lambda", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    for name, runtime, code, handler in fns:
        lam.create_function(FunctionName=name, Runtime=runtime, Role="arn:aws:iam::123456789012:role/bench",
                            Handler=handler, Code={"ZipFile": code}, Architectures=["x86_64"], MemorySize=1024, Timeout=60)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
PY
bench=target/release/archfn-bench
echo "==> cold starts, baseline and new alternating, $rounds rounds of 5"
for i in $(seq "$rounds"); do
  for f in py c; do
    printf '  round %s %s\r' "$i" "$f"
    $bench cold --endpoint "http://127.0.0.1:$pb" --function "$f" --label "baseline $f" --rounds 5 --json-out "$j" >/dev/null
    $bench cold --endpoint "http://127.0.0.1:$pn" --function "$f" --label "new $f" --rounds 5 --json-out "$j" >/dev/null
  done
done
echo
echo "==> warm invokes of the C function, baseline and new alternating, $rounds rounds"
for i in $(seq "$rounds"); do
  printf '  round %s\r' "$i"
  $bench warm --url "http://127.0.0.1:$pb/2015-03-31/functions/c/invocations" --label "baseline c" --json-out "$j" >/dev/null
  $bench warm --url "http://127.0.0.1:$pn/2015-03-31/functions/c/invocations" --label "new c" --json-out "$j" >/dev/null
done
echo
.venv/bin/python - "$j" > "$out/sandbox.md" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = defaultdict(list)
for r in rows:
    groups[(r["target"], r["op"], r["concurrency"])].append(r)
med = lambda rs, k: statistics.median(r[k] for r in rs)
print("| measurement | baseline | new (confined) | new − baseline | ratio (per round: min–max) |")
print("|---|---|---|---|---|")
for f in ("py", "c"):
    b, n = groups[(f"baseline {f}", "Invoke (cold)", 1)], groups[(f"new {f}", "Invoke (cold)", 1)]
    per = sorted(x["p50_ms"] / y["p50_ms"] for x, y in zip(n, b))
    print(f"| cold start {f}, p50 ms | {med(b, 'p50_ms'):.1f} | {med(n, 'p50_ms'):.1f} | {med(n, 'p50_ms') - med(b, 'p50_ms'):+.1f} ms "
          f"| {statistics.median(per):.2f}x ({per[0]:.2f}–{per[-1]:.2f}) |")
for c in (1, 4):
    b, n = groups[("baseline c", "Invoke (warm)", c)], groups[("new c", "Invoke (warm)", c)]
    p50 = sorted(x["p50_ms"] / y["p50_ms"] for x, y in zip(n, b))
    thr = sorted(x["ops_per_s"] / y["ops_per_s"] for x, y in zip(n, b))
    print(f"| warm p50 ms, concurrency {c} | {med(b, 'p50_ms'):.3f} | {med(n, 'p50_ms'):.3f} | {med(n, 'p50_ms') - med(b, 'p50_ms'):+.3f} ms "
          f"| {statistics.median(p50):.2f}x ({p50[0]:.2f}–{p50[-1]:.2f}) |")
    print(f"| warm invokes/s, concurrency {c} | {med(b, 'ops_per_s'):.0f} | {med(n, 'ops_per_s'):.0f} | "
          f"{med(n, 'ops_per_s') - med(b, 'ops_per_s'):+.0f} | {statistics.median(thr):.2f}x ({thr[0]:.2f}–{thr[-1]:.2f}) |")
print()
print("Medians over alternating rounds; a ratio is new / baseline.")
PY
cat "$out/sandbox.md"
