#!/usr/bin/env bash
# Installs what archfn needs to build and test, idempotently. Safe to run again.
#   scripts/setup.sh          build dependencies only
#   scripts/setup.sh --test   also the test clients (boto3, awscli, pytest) in .venv
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv python3-pip)
command -v cargo >/dev/null || need_apt+=(cargo rustc)
# Execution environments: sandboxes, emulation of the other ISA, runtime root file systems.
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
[ -x /usr/bin/qemu-aarch64-static ] || need_apt+=(qemu-user-static)
# Functions' outbound network (user-mode, through pasta) and their /tmp file systems.
command -v pasta >/dev/null || need_apt+=(passt)
command -v mkfs.ext4 >/dev/null || need_apt+=(e2fsprogs)
if [ "$want_test" = 1 ]; then
  # Test functions: C custom runtimes cross-compiled for arm64.
  command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
  # The PostgreSQL metadata backend's tests run against a cluster of their own (scripts/postgres.sh).
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  # Sandbox tests build a test host in a network namespace of their own.
  command -v ip >/dev/null || need_apt+=(iproute2)
  # Image tests push images through archfn's registry API as `docker push` would.
  command -v skopeo >/dev/null || need_apt+=(skopeo)
  # Java runtime tests compile their handlers.
  command -v javac >/dev/null || need_apt+=(default-jdk-headless)
  # Comparison tests render the HTML report in a headless browser.
  command -v chromium >/dev/null || need_apt+=(chromium)
  # Scanner and migration tests: npm fetches real platform packages.
  command -v npm >/dev/null || need_apt+=(npm)
  # Scanner tests fetch Debian binaries of both architectures with apt-get download.
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "==> dpkg --add-architecture arm64"
    dpkg --add-architecture arm64
    apt-get update -qq
  fi
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! cargo --version >/dev/null 2>&1; then
  echo "error: cargo is not installed and could not be installed" >&2
  exit 1
fi

if [ "$want_test" = 1 ]; then
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv for the test clients"
    python3 -m venv .venv
  fi
  # The console's browser tests: Playwright (the library only; the browser is Debian's chromium).
  if [ ! -d tests/console/node_modules/playwright-core ]; then
    echo "==> npm ci (tests/console: playwright-core)"
    (cd tests/console && npm ci --no-audit --no-fund --loglevel=error)
  fi
  if ! .venv/bin/python -c 'import boto3, awscli, pytest, kubernetes_validate' 2>/dev/null; then
    echo "==> pip install boto3 awscli pytest"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r tests/compat/requirements.txt
  fi
  # The SAM CLI pins a boto3 of its own, so it lives in a venv of its own.
  if [ ! -x .venv-sam/bin/sam ]; then
    echo "==> pip install aws-sam-cli (in .venv-sam)"
    python3 -m venv .venv-sam
    .venv-sam/bin/python -m pip install -q --disable-pip-version-check -r tests/compat/requirements-sam.txt
  fi
  # An S3-compatible server (moto's) for the pass that keeps blobs in a bucket (--blobs s3://).
  if [ ! -x .venv-s3/bin/moto_server ]; then
    echo "==> pip install moto[server] (in .venv-s3)"
    python3 -m venv .venv-s3
    .venv-s3/bin/python -m pip install -q --disable-pip-version-check -r tests/compat/requirements-s3.txt
  fi
fi
