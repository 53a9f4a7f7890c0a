#!/usr/bin/env bash
# The whole test suite: unit and SDK tests (cargo; the metadata backends' on SQLite and on a
# PostgreSQL that scripts/postgres.sh starts), the compatibility suite (pytest: boto3,
# awscli, auth, limits, crash, execution, scanner, migration) against a real `archfn serve`,
# a representative part of it again with metadata in PostgreSQL,
# then the fuzz targets (the scanner's for ARCHFN_FUZZ_SECONDS each, the extractions' for at most 30 s each; 0 skips).
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
# The API again with metadata in PostgreSQL (each server gets a database of its own): about
# 3.5 minutes on the development machine.
echo "==> pytest tests/compat against PostgreSQL"
pg_files=(test_functions.py test_versions_aliases.py test_layers.py test_settings.py
  test_invoke_events.py test_s3.py test_cloudformation.py test_logs.py test_shift.py
  test_postgres_nodes.py)
ARCHFN_TEST_STORE="$ARCHFN_TEST_POSTGRES" ARCHFN_BIN="$PWD/target/debug/archfn" \
  .venv/bin/python -m pytest -q "${pg_files[@]/#/tests/compat/}"
fuzz_seconds="${ARCHFN_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" -gt 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds"
fi
