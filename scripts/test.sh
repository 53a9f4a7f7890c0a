#!/usr/bin/env bash
# The whole test suite: unit and SDK tests (cargo), then the compatibility suite (pytest: boto3,
# awscli, auth, limits, crash) against a real `archfn serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
echo "==> cargo build"
cargo build --workspace --all-targets
echo "==> cargo test"
cargo test --workspace
echo "==> pytest tests/compat"
ARCHFN_BIN="$PWD/target/debug/archfn" .venv/bin/python -m pytest -q tests/compat "$@"
