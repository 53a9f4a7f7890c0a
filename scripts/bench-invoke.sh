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
echo "==> warm invokes"
# CPU per invoke of the server and of the function's processes, next to the peer's.
for f in rust-x86_64 py-x86_64 py-arm64 node-arm64 c-arm64; do
  cpu=(); [ "$f" = rust-x86_64 ] && cpu=(--cpu server=archfn --cpu function=bootstrap --cpu client=archfn-bench)
  $bench warm --url "$ep/2015-03-31/functions/$f/invocations" --label "archfn $f" "${cpu[@]}" --json-out "$j" >/dev/null
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
echo "==> cargo-lambda"
if cargo lambda --version >/dev/null 2>&1; then
  cp=$(port)
  # Its own session, so that it and the function it runs can be stopped together afterwards.
  (cd test-functions/rust-echo && exec setsid cargo lambda watch --invoke-port "$cp" --release >"$work/cargo-lambda.log" 2>&1) &
  cl=$!
  for _ in $(seq 600); do curl -fs -o /dev/null -X POST -d '{}' "http://127.0.0.1:$cp/2015-03-31/functions/rust-echo/invocations" && break; sleep 0.5; done
  $bench warm --url "http://127.0.0.1:$cp/2015-03-31/functions/rust-echo/invocations" --label "cargo-lambda rust-echo" \
    --cpu server=cargo-lambda --cpu function=rust-echo --cpu client=archfn-bench --json-out "$j" >/dev/null
  kill -- "-$cl" 2>/dev/null || true
else
  echo "cargo-lambda is not installed (cargo install cargo-lambda); skipping the peer" >&2
fi
.venv/bin/python - "$j" > "$out/invoke.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| target | operation | concurrency | ops | ops/s | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['target']} | {r['op']} | {r['concurrency']} | {r['ops']} | {r['ops_per_s']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
by = {(r["target"], r["op"], r["concurrency"]): r for r in rows}
print()
print("| cold start | archfn p50 ms | floor p50 ms | ratio |")
print("|---|---|---|---|")
for f in ("py-x86_64", "py-arm64", "node-x86_64", "node-arm64"):
    a, fl = by.get((f"archfn {f}", "Invoke (cold)", 1)), by.get((f"floor {f}", "floor", 1))
    if a and fl:
        print(f"| {f} | {a['p50_ms']:.1f} | {fl['p50_ms']:.1f} | {a['p50_ms'] / fl['p50_ms']:.2f}x |")
peer = [r for r in rows if r["target"].startswith("cargo-lambda")]
if peer:
    print()
    print("| warm, same Rust function | concurrency | archfn p50 ms | cargo-lambda p50 ms | p50 ratio | archfn ops/s | cargo-lambda ops/s | throughput ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for p in peer:
        a = by[("archfn rust-x86_64", "Invoke (warm)", p["concurrency"])]
        print(f"| rust-echo | {p['concurrency']} | {a['p50_ms']:.2f} | {p['p50_ms']:.2f} | {a['p50_ms'] / p['p50_ms']:.2f}x | {a['ops_per_s']:.0f} | {p['ops_per_s']:.0f} | {a['ops_per_s'] / p['ops_per_s']:.2f}x |")
    print()
    print("| CPU µs per invoke, same Rust function | concurrency | archfn server | cargo-lambda server | archfn's function | cargo-lambda's function | client (both) |")
    print("|---|---|---|---|---|---|---|")
    for p in peer:
        a = by[("archfn rust-x86_64", "Invoke (warm)", p["concurrency"])]
        ac, pc = a.get("cpu_us_per_op", {}), p.get("cpu_us_per_op", {})
        print(f"| rust-echo | {p['concurrency']} | {ac.get('server', 0):.0f} | {pc.get('server', 0):.0f} | {ac.get('function', 0):.0f} | {pc.get('function', 0):.0f} | {ac.get('client', 0):.0f} / {pc.get('client', 0):.0f} |")
PY
cat "$out/invoke.md"
