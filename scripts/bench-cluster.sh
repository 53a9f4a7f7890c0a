#!/usr/bin/env bash
# Issue 16's control-plane figures, side by side in one run, same client (`archfn-bench control`:
# CreateFunction, GetFunction, ListFunctions over aws-sdk-lambda, then raw HTTP):
#   sqlite  one node, SQLite (the embedded default: WAL, synchronous=FULL)
#   pg-1    one node, PostgreSQL
#   pg-3    three nodes on that PostgreSQL (another database), operations spread over them
#           round-robin, each GetFunction on another node than the one that created the function
# PostgreSQL is a cluster of this run's own on the same disk, with fsync on (as durable as SQLite's
# FULL). The three nodes share one data directory for their blobs (files), so the figures are the
# metadata store's, not an object store's.
#   scripts/bench-cluster.sh [--ops N] [--listings N]     writes bench-out/cluster.{md,jsonl}
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build --release"
cargo build --release -p archfn-server -p archfn-bench
out=bench-out; mkdir -p "$out"; j="$out/cluster.jsonl"; rm -f "$j"
work=$(mktemp -d)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 300); do curl -fs -o /dev/null "$1/healthz" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

echo "==> PostgreSQL (fsync on) in $work/pg"
chown postgres: "$work"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust --encoding=UTF8 --no-locale >/dev/null
pgport=$(port)
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start \
  -o "-c listen_addresses=127.0.0.1 -p $pgport -k $work -c max_connections=300" >/dev/null
pg="postgres://postgres@127.0.0.1:$pgport"
for db in one three; do psql -q "$pg/postgres" -c "CREATE DATABASE $db"; done

# serve NAME ARGS...: starts a node, its URL in $url.
serve() {
  local name=$1; shift
  local p; p=$(port)
  target/release/archfn serve --listen "127.0.0.1:$p" --cpu-limit off "$@" 2>"$work/$name.log" &
  url="http://127.0.0.1:$p"
  wait_up "$url"
}
bench() { target/release/archfn-bench control --label "$1" --endpoint "$2" --json-out "$j" "${@:3}" >/dev/null; }

echo "==> sqlite: one node"
serve sqlite --data-dir "$work/sqlite"; bench sqlite "$url" "$@"
echo "==> pg-1: one node on PostgreSQL"
serve pg1 --data-dir "$work/pg1" --store "$pg/one"; bench pg-1 "$url" "$@"
echo "==> pg-3: three nodes on PostgreSQL"
urls=()
for n in a b c; do
  serve "pg3-$n" --data-dir "$work/pg3" --store "$pg/three"
  urls+=("$url")
done
bench pg-3 "$(IFS=,; echo "${urls[*]}")" "$@"

.venv/bin/python - "$j" > "$out/cluster.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["target"], r["op"], r["concurrency"]): r for r in rows}
print("| operation | concurrency | sqlite ops/s | pg-1 ops/s | pg-3 ops/s | pg-1 ÷ sqlite | pg-3 ÷ pg-1 | p50 ms sqlite / pg-1 / pg-3 |")
print("|---|---|---|---|---|---|---|---|")
for (t, op, c), r in by.items():
    if t != "sqlite":
        continue
    p1, p3 = by[("pg-1", op, c)], by[("pg-3", op, c)]
    print(f"| {op} | {c} | {r['ops_per_s']:.0f} | {p1['ops_per_s']:.0f} | {p3['ops_per_s']:.0f} "
          f"| {p1['ops_per_s'] / r['ops_per_s']:.2f}x | {p3['ops_per_s'] / p1['ops_per_s']:.2f}x "
          f"| {r['p50_ms']:.2f} / {p1['p50_ms']:.2f} / {p3['p50_ms']:.2f} |")
PY
cat "$out/cluster.md"
