#!/usr/bin/env bash
# Cold starts of a container image function next to the same program as a .zip function
# (provided.al2023), on both architectures, alternating; medians. The image is built as the
# image tests build it (tests/compat/test_images.py): the C custom runtime as its entrypoint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
cargo build --release -p archfn-server
export ARCHFN_BIN="$PWD/target/release/archfn"
for a in x86_64 arm64; do
  target/release/archfn runtime install provided.al2023 --arch "$a" --runtimes-dir target/test-runtimes >/dev/null
done
.venv/bin/python - <<'PY'
import statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, "tests/compat")
import conftest
from conftest import create, make_zip
from test_images import REGISTRY, bootstrap_image, c_bootstrap, create_image_function, import_image, oci_archive

ROUNDS = 15
with tempfile.TemporaryDirectory() as d:
    server = conftest.Server(Path(d) / "data").start()
    lam = server.client()
    print("| architecture | image cold start ms (median) | .zip cold start ms (median) | ratio |")
    print("|---|---|---|---|")
    for arch in ("x86_64", "arm64"):
        config, layers = bootstrap_image(arch)
        import_image(server, oci_archive([(config, layers)]), f"cold-{arch}:v1")
        functions = {
            "image": create_image_function(lam, f"{REGISTRY}/cold-{arch}:v1", arch),
            "zip": create(lam, runtime="provided.al2023", arch=arch, Handler="bootstrap",
                          zip_bytes=make_zip({"bootstrap": c_bootstrap(arch)}, executable=True))[0],
        }
        times = {kind: [] for kind in functions}
        for i in range(ROUNDS):
            print(f"{arch}: round {i + 1}/{ROUNDS}", file=sys.stderr)
            for kind, name in functions.items():
                # A configuration change retires the warm environment: the next invoke is cold.
                lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"ROUND": str(i)}})
                lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})
                started = time.perf_counter()
                lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
                times[kind].append((time.perf_counter() - started) * 1000)
        image, zipped = statistics.median(times["image"]), statistics.median(times["zip"])
        print(f"| {arch} | {image:.1f} | {zipped:.1f} | {image / zipped:.2f}x |")
    server.stop()
PY
