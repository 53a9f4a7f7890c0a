#!/usr/bin/env bash
# Java and Ruby runtimes (issue 15): cold starts of java17 and ruby3.3 on each ISA (native and
# emulated), each alternating with its floor: the bare interpreter started the same way (bwrap,
# the same root file system), loading what archfn's runtime client loads, without archfn. And
# warm invokes of a trivial Java handler next to the same Python one.
#   scripts/bench-runtimes.sh        writes bench-out/runtimes.{jsonl,md}
#   ARCHFN_BENCH_PARTS=warm scripts/bench-runtimes.sh   only the warm comparison
#   ARCHFN_BENCH_PARTS=cold ARCHFN_BENCH_RUNTIMES=ruby3.3 scripts/bench-runtimes.sh   only Ruby's cold starts
#   ARCHFN_BENCH_ARCHS=x86_64 ...                                                     only native ones
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build --release"
cargo build --release -p archfn-server -p archfn-bench
out=bench-out; mkdir -p "$out"; j="$out/runtimes.jsonl"; rm -f "$j"
rounds=${ARCHFN_BENCH_ROUNDS:-20}
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rt=target/bench-runtimes
for r in java17 ruby3.3 python3.11; do
  for a in x86_64 arm64; do
    target/release/archfn runtime install "$r" --arch "$a" --runtimes-dir "$rt" >/dev/null
  done
done
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
p=$(port); ep="http://127.0.0.1:$p"
target/release/archfn serve --listen "127.0.0.1:$p" --data-dir "$work/archfn" --runtimes-dir "$rt" \
  --cpu-limit off 2>"$work/archfn.log" &
wait_up "$ep/healthz"
# A trivial Java handler, and the floor's class: the same JDK classes and Jackson, loaded the
# same way, without the Runtime API loop.
mkdir -p "$work/src/example" "$work/floor"
cat >"$work/src/example/Echo.java" <<'JAVA'
package example;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.Map;
public class Echo implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) { return event; }
}
JAVA
cat >"$work/floor/Floor.java" <<'JAVA'
public class Floor {
    public static void main(String[] a) throws Exception {
        java.net.http.HttpClient.newBuilder().build();
        new com.fasterxml.jackson.databind.ObjectMapper().readTree("{\"a\":1}");
        Class.forName("example.Echo", true, new java.net.URLClassLoader(new java.net.URL[] {new java.io.File("/var/task/").toURI().toURL()}));
    }
}
JAVA
javac --release 17 -d "$work/classes" $(find crates/archfn-sandbox/src/java/com -name '*.java') "$work/src/example/Echo.java"
# Compiled against the runtime's own Jackson (Debian's, in its root file system), not the host's.
jars="$rt/java17/x86_64/rootfs/usr/share/java"
javac --release 17 -d "$work/floor" -cp "$jars/jackson-databind.jar:$jars/jackson-core.jar" "$work/floor/Floor.java"
.venv/bin/python - "$ep" "$work" <<'PY'
import io, os, sys, zipfile, boto3
ep, work = sys.argv[1], sys.argv[2]
lam = boto3.client("lambda", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
def z(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as f:
        for name, data in files.items():
            f.writestr(name, data)
    return buf.getvalue()
classes = os.path.join(work, "classes")
java = z({os.path.relpath(os.path.join(d, f), classes): open(os.path.join(d, f), "rb").read()
          for d, _, fs in os.walk(os.path.join(classes, "example")) for f in fs})
ruby = z({"app.rb": "require 'json'\ndef handler(event:, context:)\n  event\nend\n"})
py = z({"app.py": "def handler(event, context):\n    return event\n"})
for arch in ("x86_64", "arm64"):
    for name, runtime, code, handler in ((f"java-{arch}", "java17", java, "example.Echo::handleRequest"),
                                         (f"ruby-{arch}", "ruby3.3", ruby, "app.handler"),
                                         (f"py-{arch}", "python3.11", py, "app.handler")):
        lam.create_function(FunctionName=name, Runtime=runtime, Role="arn:aws:iam::123456789012:role/bench", Handler=handler,
                            Code={"ZipFile": code}, Architectures=[arch], MemorySize=1024, Timeout=120)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
print("created the functions")
PY
bench=target/release/archfn-bench
sb=(--proc /proc --dev /dev --tmpfs /tmp --unshare-pid --unshare-ipc --unshare-uts --die-with-parent)
cp=/usr/lib/archfn-java/classes:/usr/share/java/jackson-databind.jar:/usr/share/java/jackson-core.jar:/usr/share/java/jackson-annotations.jar
echo "==> cold starts, each runtime's alternating with its floor"
[ "${ARCHFN_BENCH_PARTS:-all}" = warm ] || for a in ${ARCHFN_BENCH_ARCHS:-x86_64 arm64}; do
  r=$rounds
  [ "$a" = arm64 ] && r=$((rounds / 2))
  if [[ " ${ARCHFN_BENCH_RUNTIMES:-java17 ruby3.3} " == *" java17 "* ]]; then
  $bench cold --endpoint "$ep" --function "java-$a" --label "archfn java17-$a" --rounds "$r" --json-out "$j" \
    --floor-label "floor java17-$a" -- \
    bwrap --ro-bind "$rt/java17/$a/rootfs" / --ro-bind "$work/classes" /var/task --ro-bind "$work/floor" /opt "${sb[@]}" \
    /usr/lib/jvm/default-java/bin/java -XX:+TieredCompilation -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
    -XX:MaxHeapSize=870m -cp "/opt:$cp" Floor >/dev/null
  fi
  if [[ " ${ARCHFN_BENCH_RUNTIMES:-java17 ruby3.3} " == *" ruby3.3 "* ]]; then
  $bench cold --endpoint "$ep" --function "ruby-$a" --label "archfn ruby3.3-$a" --rounds "$r" --json-out "$j" \
    --floor-label "floor ruby3.3-$a" -- \
    bwrap --ro-bind "$rt/ruby3.3/$a/rootfs" / "${sb[@]}" /usr/bin/ruby3.3 -e 'require "json"; require "socket"' >/dev/null
  fi
done
echo "==> warm invokes: the trivial Java handler next to the Python one, alternating"
[ "${ARCHFN_BENCH_PARTS:-all}" = cold ] || for i in $(seq 5); do
  for f in java-x86_64 py-x86_64; do
    $bench warm --url "$ep/2015-03-31/functions/$f/invocations" --label "archfn $f" --concurrency 1 --ops 1000 --json-out "$j" >/dev/null
  done
done
.venv/bin/python - "$j" > "$out/runtimes.md" <<'PY'
import json, statistics, sys
from collections import defaultdict
rows = [json.loads(l) for l in open(sys.argv[1])]
g = defaultdict(list)
for r in rows:
    g[r["target"]].append(r)
med = lambda t, k: statistics.median(r[k] for r in g[t])
print("| cold start | archfn p50 ms | floor p50 ms | ratio |")
print("|---|---|---|---|")
for rt in ("java17", "ruby3.3"):
    for a in ("x86_64", "arm64"):
        t, f = f"archfn {rt}-{a}", f"floor {rt}-{a}"
        if g[t] and g[f]:
            print(f"| {rt} {a} ({'native' if a == 'x86_64' else 'emulated'}) | {med(t, 'p50_ms'):.1f} | {med(f, 'p50_ms'):.1f} | {med(t, 'p50_ms') / med(f, 'p50_ms'):.2f}x |")
if g["archfn java-x86_64"] and g["archfn py-x86_64"]:
    print()
    print("| warm, concurrency 1 | p50 ms | p99 ms | invokes/s |")
    print("|---|---|---|---|")
    for t in ("archfn java-x86_64", "archfn py-x86_64"):
        print(f"| {t} | {med(t, 'p50_ms'):.3f} | {med(t, 'p99_ms'):.3f} | {med(t, 'ops_per_s'):.0f} |")
    print()
    print(f"Java/Python warm p50: {med('archfn java-x86_64', 'p50_ms') / med('archfn py-x86_64', 'p50_ms'):.2f}x")
PY
cat "$out/runtimes.md"
