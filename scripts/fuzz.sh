#!/usr/bin/env bash
# Fuzzes the scanner's readers (any bytes as an archive or an ELF file) and the extractions
# (any bytes as a zip unpacked, or as two image layers applied, beneath a fresh root, checked
# for anything outside it) with cargo-fuzz for a bounded time per target: SECONDS_PER_TARGET
# for the scanner's, at most 30 s for each extraction target. cargo-fuzz needs nightly-only
# compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install -q --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1

# Seeds, built here from our own sources: the C custom runtime as an ELF, and a zip and a
# .tgz holding it next to wheel and npm metadata.
seeds=target/fuzz-seeds
mkdir -p "$seeds/elf_parse" "$seeds/scan_bytes" "$seeds/unzip" "$seeds/apply_layer"
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

# Extraction seeds: hostile zips and layers whose links climb out of the root towards the
# victim beside it (../../victim), and legitimate ones.
import stat, struct
def link(name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target
zips = {
    "plain": [("a.py", "x = 1"), ("lib/b.py", "y"), link("lib/alias.py", "b.py")],
    "chain": [link("a/l", ".."), link("a/l/m", ".."), link("a/l/m/victim/planted", "x"), ("a/l/m/victim/file", "overwritten")],
    "through": [link("up", "../../victim"), ("up/file", "overwritten"), link("up/dir/new", "x")],
    "linktolink": [link("x", "."), link("y", "x/.."), link("y/z", "x")],
}
for name, entries in zips.items():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info, data in entries:
            z.writestr(info, data)
    open(f"{seeds}/unzip/{name}.zip", "wb").write(buf.getvalue())
def layer(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(value)
                t.addfile(info, io.BytesIO(value))
            else:
                info.type = {"link": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "dir": tarfile.DIRTYPE}[kind]
                info.linkname = value if kind != "dir" else ""
                t.addfile(info)
    return buf.getvalue()
layers = {
    "whiteouts": (layer([("a/", "dir", ""), ("a/x", "file", b"1"), ("l", "link", "../../victim")]),
                  layer([("a/.wh.x", "file", b""), ("l/.wh.file", "file", b""), ("l/dir/.wh..wh..opq", "file", b""), (".wh...", "file", b"")])),
    "hardlinks": (layer([("f", "file", b"1"), ("l", "link", "../../victim"), ("s", "link", "f")]),
                  layer([("h1", "hard", "f"), ("h2", "hard", "l/file"), ("h3", "hard", "s"), ("h4", "hard", "../../victim/file")])),
    "through": (layer([("up", "link", "../../victim")]), layer([("up/file", "file", b"overwritten"), ("up/new/", "dir", "")])),
}
for name, (lower, upper) in layers.items():
    open(f"{seeds}/apply_layer/{name}", "wb").write(struct.pack("<H", len(lower)) + lower + upper)
PY

extract_seconds=$(( seconds < 30 ? seconds : 30 ))
for target in elf_parse scan_bytes unzip apply_layer; do
  corpus="target/fuzz-corpus/$target"
  mkdir -p "$corpus"
  case "$target" in
    unzip|apply_layer) run_seconds="$extract_seconds" ;;
    *) run_seconds="$seconds" ;;
  esac
  echo "==> cargo fuzz run $target for ${run_seconds}s"
  cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" "$seeds/$target" -- \
    -max_total_time="$run_seconds" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ *DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|.*panicked)" || true
  # cargo fuzz exits non-zero on a crash, leak, timeout or OOM; the pipeline above hides
  # that, so check for artifacts instead.
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "error: cargo fuzz found a failing input for $target:" >&2
    ls "fuzz/artifacts/$target" >&2
    exit 1
  fi
done
