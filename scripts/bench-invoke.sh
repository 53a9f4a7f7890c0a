#!/usr/bin/env bash
# Invoke benchmarks: warm latency/throughput (c=1,4), cold starts per runtime and architecture
# (native vs emulated) next to their floor (the bare interpreter started the same way, under
# bwrap, without archfn), and cargo-lambda's local emulator with the same Rust function.
# Writes bench-out/invoke.{jsonl,md}. Needs root (sandboxes, cgroups, binfmt_misc).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build --release"
cargo build --release -p archfn-server -p archfn-bench -p rust-echo
out=bench-out; mkdir -p "$out"; rm -f "$out/invoke.jsonl"
rounds=${ARCHFN_BENCH_ROUNDS:-5}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rt=target/bench-runtimes
for r in python3.11 nodejs20.x provided.al2023; do
  for a in x86_64 arm64; do
    target/release/archfn runtime install "$r" --arch "$a" --runtimes-dir "$rt" >/dev/null  # no-op when current
  done
done
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -fs -o /dev/null -X "${2:-GET}" "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

p=$(port); ep="http://127.0.0.1:$p"
target/release/archfn serve --listen "127.0.0.1:$p" --data-dir "$work/archfn" --runtimes-dir "$rt" \
  --runtime-policy-date 2026-01-01 2>"$work/archfn.log" &
wait_up "$ep/healthz"
cc -static -O2 -o "$work/c-x86_64" tests/functions/c-runtime/bootstrap.c
aarch64-linux-gnu-gcc -static -O2 -o "$work/c-arm64" tests/functions/c-runtime/bootstrap.c
.venv/bin/python - "$ep" "$work" <<'PY'
import io, sys, zipfile, boto3
ep, work = sys.argv[1], sys.argv[2]
lam = boto3.client("lambda", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
def z(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as f:
        for name, data in files.items():
            info = zipfile.ZipInfo(name); info.external_attr = 0o100755 << 16; info.compress_type = zipfile.ZIP_DEFLATED
            f.writestr(info, data)
    return buf.getvalue()
py = z({"app.py": "def handler(event, context):\n    return event\n"})
node = z({"index.js": "exports.handler = async (event) => event;\n"})
rust = z({"bootstrap": open("target/release/rust-echo", "rb").read()})
fns = [("py-x86_64", "python3.11", "x86_64", py, "app.handler"), ("py-arm64", "python3.11", "arm64", py, "app.handler"),
       ("node-x86_64", "nodejs20.x", "x86_64", node, "index.handler"), ("node-arm64", "nodejs20.x", "arm64", node, "index.handler"),
       ("rust-x86_64", "provided.al2023", "x86_64", rust, "bootstrap"),
       ("c-x86_64", "provided.al2023", "x86_64", z({"bootstrap": open(f"{work}/c-x86_64", "rb").read()}), "bootstrap"),
       ("c-arm64", "provided.al2023", "arm64", z({"bootstrap": open(f"{work}/c-arm64", "rb").read()}), "bootstrap")]
for name, runtime, arch, code, handler in fns:
    lam.create_function(FunctionName=name, Runtime=runtime, Role="arn:aws:iam::123456789012:role/bench", Handler=handler,
                        Code={"ZipFile": code}, Architectures=[arch], MemorySize=1024, Timeout=60)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
print("created", len(fns), "functions")
PY
bench=target/release/archfn-bench
j="$out/invoke.jsonl"
echo "==> cargo-lambda (the peer)"
cp=""
if cargo lambda --version >/dev/null 2>&1; then
  cp=$(port)
  # Its own session, so that it and the function it runs can be stopped together afterwards.
  (cd test-functions/rust-echo && exec setsid cargo lambda watch --invoke-port "$cp" --release >"$work/cargo-lambda.log" 2>&1) &
  cl=$!
  for _ in $(seq 600); do curl -fs -o /dev/null -X POST -d '{}' "http://127.0.0.1:$cp/2015-03-31/functions/rust-echo/invocations" && break; sleep 0.5; done
else
  echo "cargo-lambda is not installed (cargo install cargo-lambda); skipping the peer" >&2
fi
echo "==> warm invokes: the Rust function on archfn and on cargo-lambda, alternating, $rounds rounds"
# Alternating rounds, so that both see the machine in the same states; the summary takes medians.
# CPU per invoke of each server, the function's processes and the client.
for i in $(seq "$rounds"); do
  $bench warm --url "$ep/2015-03-31/functions/rust-x86_64/invocations" --label "archfn rust-x86_64" \
    --cpu server=archfn --cpu function=bootstrap --cpu client=archfn-bench --json-out "$j" >/dev/null
  [ -n "$cp" ] && $bench warm --url "http://127.0.0.1:$cp/2015-03-31/functions/rust-echo/invocations" \
    --label "cargo-lambda rust-echo" --cpu server=cargo-lambda --cpu function=rust-echo --cpu client=archfn-bench \
    --json-out "$j" >/dev/null
done
[ -n "$cp" ] && { kill -- "-$cl" 2>/dev/null || true; }
echo "==> warm invokes: the other functions"
for f in py-x86_64 py-arm64 node-arm64 c-arm64; do
  $bench warm --url "$ep/2015-03-31/functions/$f/invocations" --label "archfn $f" --json-out "$j" >/dev/null
done
echo "==> cold starts, each interpreted runtime's alternating with its floor"
# The floor: the bare interpreter started the same way (bwrap, the same root file system),
# importing what archfn's bootstrap imports, without archfn. It runs once after each cold start,
# so that both see the machine in the same state.
sb=(--proc /proc --dev /dev --tmpfs /tmp --unshare-pid --unshare-ipc --unshare-uts --die-with-parent)
for a in x86_64 arm64; do
  $bench cold --endpoint "$ep" --function "py-$a" --label "archfn py-$a" --rounds 30 --json-out "$j" \
    --floor-label "floor py-$a" -- \
    bwrap --ro-bind "$rt/python3.11/$a/rootfs" / "${sb[@]}" /usr/bin/python3.11 -c 'import json, http.client, importlib' >/dev/null
  $bench cold --endpoint "$ep" --function "node-$a" --label "archfn node-$a" --rounds 30 --json-out "$j" \
    --floor-label "floor node-$a" -- \
    bwrap --ro-bind "$rt/nodejs20.x/$a/rootfs" / "${sb[@]}" /usr/bin/node -e 'require("http")' >/dev/null
done
for f in rust-x86_64 c-x86_64 c-arm64; do
  $bench cold --endpoint "$ep" --function "$f" --label "archfn $f" --rounds 30 --json-out "$j" >/dev/null
done
.venv/bin/python - "$j" > "$out/invoke.md" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
groups = defaultdict(list)  # repeated measurements (alternating rounds) of one target
for r in rows:
    groups[(r["target"], r["op"], r["concurrency"])].append(r)
med = lambda rs, k: statistics.median(r[k] for r in rs)
print("| target | operation | concurrency | rounds | ops per round | ops/s | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|---|---|")
for (t, op, c), rs in groups.items():
    print(f"| {t} | {op} | {c} | {len(rs)} | {rs[0]['ops']} | {med(rs, 'ops_per_s'):.1f} | {med(rs, 'p50_ms'):.2f} | {med(rs, 'p99_ms'):.2f} |")
print()
print("Repeated rows are medians over the rounds.")
print()
print("| cold start | archfn p50 ms | floor p50 ms | ratio |")
print("|---|---|---|---|")
for f in ("py-x86_64", "py-arm64", "node-x86_64", "node-arm64"):
    a, fl = groups.get((f"archfn {f}", "Invoke (cold)", 1)), groups.get((f"floor {f}", "floor", 1))
    if a and fl:
        print(f"| {f} | {med(a, 'p50_ms'):.1f} | {med(fl, 'p50_ms'):.1f} | {med(a, 'p50_ms') / med(fl, 'p50_ms'):.2f}x |")
# The same Rust function on both platforms, per concurrency level, round by round.
pairs = [(c, groups[("archfn rust-x86_64", "Invoke (warm)", c)], groups[("cargo-lambda rust-echo", "Invoke (warm)", c)])
         for c in (1, 4)
         if ("archfn rust-x86_64", "Invoke (warm)", c) in groups and ("cargo-lambda rust-echo", "Invoke (warm)", c) in groups]
if pairs:
    print()
    print("| warm, same Rust function | concurrency | archfn p50 ms | cargo-lambda p50 ms | p50 ratio (rounds) | archfn ops/s | cargo-lambda ops/s | throughput ratio (rounds) |")
    print("|---|---|---|---|---|---|---|---|")
for c, a, p in pairs:
    p50 = sorted(x["p50_ms"] / y["p50_ms"] for x, y in zip(a, p))
    thr = sorted(x["ops_per_s"] / y["ops_per_s"] for x, y in zip(a, p))
    print(f"| rust-echo | {c} | {med(a, 'p50_ms'):.2f} | {med(p, 'p50_ms'):.2f} | {statistics.median(p50):.2f}x ({p50[0]:.2f}–{p50[-1]:.2f}) "
          f"| {med(a, 'ops_per_s'):.0f} | {med(p, 'ops_per_s'):.0f} | {statistics.median(thr):.2f}x ({thr[0]:.2f}–{thr[-1]:.2f}) |")
cpu = lambda rs, k: statistics.median(r.get("cpu_us_per_op", {}).get(k, 0) for r in rs)
if pairs:
    print()
    print("| CPU µs per invoke, same Rust function | concurrency | archfn server | cargo-lambda server | archfn's function | cargo-lambda's function | client (archfn / cargo-lambda) |")
    print("|---|---|---|---|---|---|---|")
for c, a, p in pairs:
    print(f"| rust-echo | {c} | {cpu(a, 'server'):.0f} | {cpu(p, 'server'):.0f} | {cpu(a, 'function'):.0f} | {cpu(p, 'function'):.0f} | {cpu(a, 'client'):.0f} / {cpu(p, 'client'):.0f} |")
PY
cat "$out/invoke.md"
