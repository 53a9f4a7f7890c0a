#!/usr/bin/env bash
# Fuzzes the scanner's readers (any bytes as an archive or an ELF file) with cargo-fuzz for a
# bounded time per target. cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets
# the stable toolchain accept them.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install -q --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1

# Seeds, built here from our own sources: the C custom runtime as an ELF, and a zip and a
# .tgz holding it next to wheel and npm metadata.
seeds=target/fuzz-seeds
mkdir -p "$seeds/elf_parse" "$seeds/scan_bytes"
cc -O1 -o "$seeds/elf_parse/bootstrap" tests/functions/c-runtime/bootstrap.c
python3 - "$seeds" <<'PY'
import gzip, io, sys, tarfile, zipfile
seeds = sys.argv[1]
elf = open(f"{seeds}/elf_parse/bootstrap", "rb").read()
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("pkg-1.0.dist-info/WHEEL", "Tag: cp311-cp311-manylinux_2_17_x86_64\n")
    z.writestr("pkg-1.0.dist-info/RECORD", "pkg/bootstrap,,\n")
    z.writestr("pkg/bootstrap", elf)
    z.writestr("node_modules/x/package.json", '{"name":"x","version":"1","cpu":["x64"]}')
open(f"{seeds}/scan_bytes/package.zip", "wb").write(buf.getvalue())
tar = io.BytesIO()
with tarfile.open(fileobj=tar, mode="w") as t:
    for name, data in (("package/package.json", b'{"name":"y","version":"2","cpu":["arm64"]}'), ("package/bin/tool", elf)):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
open(f"{seeds}/scan_bytes/package.tgz", "wb").write(gzip.compress(tar.getvalue()))
PY

for target in elf_parse scan_bytes; do
  corpus="target/fuzz-corpus/$target"
  mkdir -p "$corpus"
  echo "==> cargo fuzz run $target for ${seconds}s"
  cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" "$seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ *DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|.*panicked)" || true
  # cargo fuzz exits non-zero on a crash, leak, timeout or OOM; the pipeline above hides
  # that, so check for artifacts instead.
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "error: cargo fuzz found a failing input for $target:" >&2
    ls "fuzz/artifacts/$target" >&2
    exit 1
  fi
done
