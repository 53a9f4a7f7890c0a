#!/usr/bin/env bash
# S3 throughput (issue 14): PutObject and GetObject of 1 MiB and 50 MiB objects through archfn's
# S3 (release build, open mode, plain HTTP from `archfn-bench s3`), each next to the disk's own
# rate measured in the same run on the same file system: a file written whole and fsync'd, and
# read to its end cold (its pages evicted) and from the page cache.
#   scripts/bench-s3.sh                    writes bench-out/s3.md and bench-out/s3-this.json
#   ARCHFN_BENCH_ROUNDS=40 scripts/bench-s3.sh
#   ARCHFN_BASELINE_BIN=/path/to/older/archfn scripts/bench-s3.sh   also measures that build
set -euo pipefail
cd "$(dirname "$0")/.."
echo "==> cargo build --release"
cargo build --release -p archfn-server -p archfn-bench
bin="${CARGO_TARGET_DIR:-target}/release"
out=bench-out; mkdir -p "$out"
rounds=${ARCHFN_BENCH_ROUNDS:-20}
# The data directory and the disk's files share one file system (TMPDIR's).
work=$(mktemp -d "${TMPDIR:-/tmp}/archfn-bench-s3.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# run LABEL ARCHFN: one server of binary ARCHFN, the benchmark against it, the table printed.
run() {
  local label=$1 archfn=$2 dir="$work/$1"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$archfn" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" --runtimes-dir "$dir/runtimes" \
    2>"$dir.log" &
  local pid=$!
  for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
  echo "### $label ($archfn)"
  echo
  "$bin/archfn-bench" s3 --endpoint "http://127.0.0.1:$port" --data-dir "$dir/data" --scratch "$dir/disk" \
    --rounds "$rounds" --json-out "$out/s3-$label.json"
  echo
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}
echo "==> $rounds rounds per size on $(df --output=source,fstype "$work" | tail -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
{
  run this "$bin/archfn"
  # ARCHFN_BASELINE_BIN: another build of archfn (e.g. of an earlier commit) measured the same way.
  if [ -n "${ARCHFN_BASELINE_BIN:-}" ]; then run baseline "$ARCHFN_BASELINE_BIN"; fi
} | tee "$out/s3.md"
