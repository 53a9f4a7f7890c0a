#!/usr/bin/env bash
# Quick start: installs what is missing, builds archfn, and serves the Lambda API on 127.0.0.1:9001
# with all state under ./.archfn (SQLite + files). Extra arguments go to `archfn serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "==> cargo build --release"
cargo build --release -p archfn-server
exec target/release/archfn serve "$@"
