#!/usr/bin/env bash
# The whole test suite: unit and SDK tests (cargo), the compatibility suite (pytest: boto3,
# awscli, auth, limits, crash, execution, scanner, migration) against a real `archfn serve`,
# then the fuzz targets (the scanner's for ARCHFN_FUZZ_SECONDS each, the extractions' for at most 30 s each; 0 skips).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build"
cargo build --workspace --all-targets
echo "==> cargo test"
cargo test --workspace
echo "==> pytest tests/compat"
ARCHFN_BIN="$PWD/target/debug/archfn" .venv/bin/python -m pytest -q tests/compat "$@"
fuzz_seconds="${ARCHFN_FUZZ_SECONDS:-60}"
if [ "$fuzz_seconds" -gt 0 ]; then
  scripts/fuzz.sh "$fuzz_seconds"
fi
