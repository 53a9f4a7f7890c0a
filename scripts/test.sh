#!/usr/bin/env bash
# The whole test suite: unit and SDK tests (cargo; the metadata backends' on SQLite and on a
# PostgreSQL that scripts/postgres.sh starts), the compatibility suite (pytest: boto3,
# awscli, auth, limits, crash, execution, scanner, migration) against a real `archfn serve`,
# a representative part of it again with metadata in PostgreSQL,
# then the fuzz targets (each for ARCHFN_FUZZ_SECONDS, 30 by default, the extractions' for at most 30 s; 0 skips).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# A PostgreSQL of the tests' own (target/postgres) for the PostgreSQL metadata backend.
echo "==> scripts/postgres.sh start"
ARCHFN_TEST_POSTGRES="$(scripts/postgres.sh start)"
export ARCHFN_TEST_POSTGRES
trap 'scripts/postgres.sh stop' EXIT
echo "==> cargo build"
cargo build --workspace --all-targets
echo "==> cargo test"
cargo test --workspace
echo "==> pytest tests/compat"
ARCHFN_BIN="$PWD/target/debug/archfn" .venv/bin/python -m pytest -q tests/compat "$@"
# The API again with metadata in PostgreSQL (each server gets a database of its own) and blobs
# in a bucket of an S3-compatible server (moto's; each server a prefix of its own): about 3.5
# minutes on the development machine.
echo "==> moto S3 server"
s3_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv-s3/bin/moto_server -p "$s3_port" >target/moto-s3.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; scripts/postgres.sh stop' EXIT
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$s3_port/moto-api/" && break; sleep 0.2; done
echo "==> pytest tests/compat against PostgreSQL and S3"
pg_files=(test_functions.py test_versions_aliases.py test_layers.py test_settings.py
  test_invoke_events.py test_s3.py test_cloudformation.py test_logs.py test_shift.py
  test_postgres_nodes.py)
ARCHFN_TEST_STORE="$ARCHFN_TEST_POSTGRES" ARCHFN_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port" \
  ARCHFN_BIN="$PWD/target/debug/archfn" .venv/bin/python -m pytest -q "${pg_files[@]/#/tests/compat/}"
fuzz_seconds="${ARCHFN_FUZZ_SECONDS:-30}"
if [ "$fuzz_seconds" -gt 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds"
fi
