#!/usr/bin/env bash
# What the hardening costs: a baseline archfn (a git revision before it, default 226be7e) and
# this checkout, side by side in one run, alternating:
# - confined execution environments (their own host uid, uid 993 in a nested user namespace,
#   seccomp, their own network namespace with pasta, the freezer, an ext4 /tmp) against the
#   baseline's (root in a user namespace, the host's network, no freezer, a tmpfs /tmp): native
#   Python and C cold starts, then warm invokes of the C function at concurrency 1 and 4 (each
#   thaw and freeze included). CPU limits are off on the new build: they are Lambda's semantics,
#   not the sandbox's overhead;
# - extraction that never follows a link: CreateFunction of a 3,000-file zip until Active, and
#   `archfn image import` of a one-layer image of a whole Python root file system.
#   scripts/bench-hardening.sh [BASELINE_REV]      writes bench-out/hardening.{jsonl,md}
#   ARCHFN_BASELINE_ARGS="--cpu-limit off" scripts/bench-hardening.sh REV   for a baseline that
#   has CPU limits too (any revision after the hardening), so that both run unlimited
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
out=bench-out; mkdir -p "$out"; j="$out/hardening.jsonl"; rm -f "$j"
rounds=${ARCHFN_BENCH_ROUNDS:-6}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rt=target/bench-runtimes
target/release/archfn runtime install python3.11 --arch x86_64 --runtimes-dir "$rt" >/dev/null
target/release/archfn runtime install provided.al2023 --arch x86_64 --runtimes-dir "$rt" >/dev/null
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
pb=$(port); pn=$(port)
"$base_target/release/archfn" serve --listen "127.0.0.1:$pb" --data-dir "$work/base" --runtimes-dir "$rt" \
  --runtime-policy-date 2026-01-01 ${ARCHFN_BASELINE_ARGS:-} 2>"$work/base.log" &
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
echo "==> extraction: a 3,000-file zip to Active, and an image import, baseline and new alternating"
.venv/bin/python - "$work" "$j" "$base_target/release/archfn" target/release/archfn \
  "http://127.0.0.1:$pb" "http://127.0.0.1:$pn" "$rt/python3.11/x86_64/rootfs" <<'PY'
import hashlib, io, json, os, subprocess, sys, tarfile, time, zipfile, boto3
work, out, base_bin, new_bin, base_ep, new_ep, rootfs = sys.argv[1:]
rounds = int(os.environ.get("ARCHFN_BENCH_ROUNDS", "6"))
def code_zip(tag):
    """3,000 small files in 210 directories, and a file that makes each zip's digest new (so
    that every CreateFunction really unpacks)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for d in range(30):
            for f in range(100):
                z.writestr(f"pkg{d}/sub{f % 7}/m{f}.py", f"# {d} {f}\n" + "x = 1\n" * 20)
        z.writestr("app.py", "def handler(e, c):\n    return e\n")
        z.writestr("unique.txt", tag)
    return buf.getvalue()
# A one-layer OCI image layout (as a tar) of a whole root file system.
layer = os.path.join(work, "layer.tar")
with tarfile.open(layer, "w") as t:
    t.add(rootfs, arcname=".")
blob = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
lay = os.path.join(work, "layout"); os.makedirs(os.path.join(lay, "blobs", "sha256"), exist_ok=True)
ld = blob(layer); os.replace(layer, os.path.join(lay, "blobs", "sha256", ld))
size = os.path.getsize(os.path.join(lay, "blobs", "sha256", ld))
def put(obj):
    data = json.dumps(obj).encode(); d = hashlib.sha256(data).hexdigest()
    open(os.path.join(lay, "blobs", "sha256", d), "wb").write(data); return d, len(data)
cd, cs = put({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/bin/true"]},
              "rootfs": {"type": "layers", "diff_ids": [f"sha256:{ld}"]}})
md, ms = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{cd}", "size": cs},
              "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f"sha256:{ld}", "size": size}]})
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
          "digest": f"sha256:{md}", "size": ms}]}, open(os.path.join(lay, "index.json"), "w"))
open(os.path.join(lay, "oci-layout"), "w").write('{"imageLayoutVersion": "1.0.0"}')
clients = {label: boto3.client("lambda", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="x",
                               aws_secret_access_key="x") for label, ep in (("baseline", base_ep), ("new", new_ep))}
rows = open(out, "a")
for i in range(rounds):
    for label, lam in clients.items():
        times = []
        for k in range(5):
            name = f"zip-{i}-{k}"
            body = code_zip(f"{label} {i} {k}")
            started = time.perf_counter()
            lam.create_function(FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::123456789012:role/b",
                                Handler="app.handler", Code={"ZipFile": body})
            lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.02, "MaxAttempts": 3000})
            times.append((time.perf_counter() - started) * 1000)
        rows.write(json.dumps({"target": f"{label} zip", "op": "CreateFunction to Active", "concurrency": 1,
                               "ops": 5, "p50_ms": sorted(times)[2], "ops_per_s": 5000 / sum(times)}) + "\n")
    for label, binary in (("baseline", base_bin), ("new", new_bin)):
        data = os.path.join(work, f"import-{label}-{i}")
        started = time.perf_counter()
        subprocess.run([binary, "image", "import", lay, "--tag", "bench:1", "--data-dir", data], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ms_ = (time.perf_counter() - started) * 1000
        subprocess.run(["rm", "-rf", data])
        rows.write(json.dumps({"target": f"{label} image", "op": "image import", "concurrency": 1, "ops": 1,
                               "p50_ms": ms_, "ops_per_s": 1000 / ms_}) + "\n")
    print(f"  round {i + 1}", end="\r", flush=True)
print()
PY
.venv/bin/python - "$j" > "$out/hardening.md" <<'PY'
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
for kind, op in (("zip", "CreateFunction to Active"), ("image", "image import")):
    b, n = groups[(f"baseline {kind}", op, 1)], groups[(f"new {kind}", op, 1)]
    per = sorted(x["p50_ms"] / y["p50_ms"] for x, y in zip(n, b))
    print(f"| {op}, ms | {med(b, 'p50_ms'):.0f} | {med(n, 'p50_ms'):.0f} | {med(n, 'p50_ms') - med(b, 'p50_ms'):+.0f} ms "
          f"| {statistics.median(per):.2f}x ({per[0]:.2f}–{per[-1]:.2f}) |")
print()
print("Medians over alternating rounds; a ratio is new / baseline.")
PY
cat "$out/hardening.md"
