#!/usr/bin/env bash
# Scan benchmark (issue 4): `archfn scan` on a ~250 MB (unzipped) deployment package of real
# wheels and npm packages, next to the floor of decompressing it once (`unzip -tq`), in the
# same run: wall time and peak memory of each. Writes target/bench-scan.json.
#   scripts/bench-scan.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
scripts/setup.sh --test
command -v unzip >/dev/null || apt-get install -y -qq unzip >/dev/null

cache=target/bench-cache
pkg="$cache/pkg"
zip="$cache/package-250mb.zip"
if [ ! -f "$zip" ]; then
  echo "==> fetching wheels (PyPI) and npm packages"
  mkdir -p "$cache/wheels" "$cache/npm"
  .venv/bin/python -m pip download -q --disable-pip-version-check --only-binary=:all: --no-deps \
    --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp -d "$cache/wheels" \
    numpy==2.2.6 scipy==1.15.3 pandas==2.2.3 python-dateutil==2.9.0.post0 pytz==2025.2 six==1.17.0
  rm -rf "$pkg" && mkdir -p "$pkg/node_modules"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-index --no-compile \
    --target "$pkg" "$cache"/wheels/*.whl
  (cd "$cache/npm" && npm pack --silent typescript@5.8.3 @esbuild/linux-x64@0.25.0 esbuild@0.25.0 >/dev/null)
  for tgz in "$cache"/npm/*.tgz; do
    name=$(tar -xzOf "$tgz" package/package.json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["name"])')
    mkdir -p "$pkg/node_modules/$name"
    tar -xzf "$tgz" -C "$pkg/node_modules/$name" --strip-components=1
  done
  echo 'def handler(event, context): return 1' > "$pkg/app.py"
  echo "==> zipping $(du -sm "$pkg" | cut -f1) MB"
  .venv/bin/python - "$pkg" "$zip" <<'PY'
import os, sys, zipfile
root, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out + ".tmp", "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, root))
os.rename(out + ".tmp", out)
PY
fi
cargo build -q --release -p archfn-server -p archfn-bench
target/release/archfn-bench scan --package "$zip" --archfn target/release/archfn --runs "$runs" \
  --out target/bench-scan.json
