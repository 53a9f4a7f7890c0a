"""Fixtures: a real `archfn serve` process per test module, and boto3 clients pointed at it."""

import io
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/lambda-role"


def archfn_bin() -> str:
    return os.environ.get("ARCHFN_BIN", str(REPO / "target" / "debug" / "archfn"))


RUNTIMES_DIR = Path(os.environ.get("ARCHFN_TEST_RUNTIMES", str(REPO / "target" / "test-runtimes")))


# An S3-compatible server (moto's, started by scripts/test.sh) to keep every server's blobs in,
# instead of files under its data directory: `ARCHFN_TEST_S3_ENDPOINT=http://127.0.0.1:PORT`.
S3_ENDPOINT = os.environ.get("ARCHFN_TEST_S3_ENDPOINT")
_TEST_BUCKET = "archfn-test-blobs"


def shared_test_bucket() -> str:
    """The bucket of ARCHFN_TEST_S3_ENDPOINT every server's blobs go in (created once)."""
    s3 = boto3.client("s3", endpoint_url=S3_ENDPOINT, region_name="us-east-1", aws_access_key_id="AKIDTEST",
                      aws_secret_access_key="test")
    try:
        s3.head_bucket(Bucket=_TEST_BUCKET)
    except Exception:
        s3.create_bucket(Bucket=_TEST_BUCKET)
    return _TEST_BUCKET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `ARCHFN_TEST_STORE=postgres://USER@HOST:PORT` (scripts/postgres.sh url): every server keeps its
# metadata in a PostgreSQL database of its own on that server, one per data directory (a
# server restarted on the same data directory finds its database again).
TEST_STORE = os.environ.get("ARCHFN_TEST_STORE", "")


def postgres_database(data_dir: Path) -> str:
    """The URL of the database of `data_dir` on the ARCHFN_TEST_STORE server, created if new."""
    import hashlib

    base = TEST_STORE.rstrip("/")
    name = "archfn_" + hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:20]
    exists = subprocess.run(
        ["psql", "-qtAX", f"{base}/postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(["psql", "-qX", f"{base}/postgres", "-c", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True)
    return f"{base}/{name}"


class Server:
    """A running archfn server with its own data directory."""

    def __init__(self, data_dir: Path, extra_args=(), pass_fds=()):
        self.data_dir = Path(data_dir)
        self.pass_fds = tuple(pass_fds)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"

    def start(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        args, env = list(self.extra_args), None
        if TEST_STORE.startswith("postgres") and "--store" not in args:
            args = ["--store", postgres_database(self.data_dir), *args]
        if S3_ENDPOINT and "--blobs" not in args:
            # Blobs in a bucket of the S3-compatible server the test script started, a prefix
            # per server (kept across restarts of the same data directory).
            args += ["--blobs", f"s3://{shared_test_bucket()}/{self.data_dir.parent.name}-{self.data_dir.name}"
                                f"?endpoint={S3_ENDPOINT}&region=us-east-1"]
            env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test"}
        self.proc = subprocess.Popen(
            [archfn_bin(), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
             "--runtimes-dir", str(RUNTIMES_DIR), "--async-retry-delay", "1", *args],
            stdout=log,
            stderr=log,
            pass_fds=self.pass_fds,
            env=env,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"archfn exited early: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("archfn did not become healthy")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self, region="us-east-1", key="AKIDARCHFN", secret="archfn-secret", validate=True):
        return boto3.client(
            "lambda",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 0}, read_timeout=60, parameter_validation=validate),
        )


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="archfn-test-") as d:
        s = Server(Path(d) / "data").start()
        yield s
        s.stop()


@pytest.fixture(scope="module")
def lam(server):
    return server.client()


def server_fixture(*args: str, prefix: str = "archfn-test-"):
    """A module-scoped fixture: a boto3 client of a server of its own, started with `args`
    (e.g. `--runtime-policy-date 2026-01-01`), with the runtimes installed."""

    @pytest.fixture(scope="module")
    def fixture(runtimes):
        with tempfile.TemporaryDirectory(prefix=prefix) as d:
            s = Server(Path(d) / "data", list(args)).start()
            yield s.client()
            s.stop()

    return fixture


def make_zip(files=None, executable: bool = False) -> bytes:
    """A zip of `files` (name to text or bytes); `executable` marks every file 0755 (bootstraps,
    wrapper scripts, extensions)."""
    files = files or {"lambda_function.py": "def handler(event, context):\n    return event\n"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            if executable:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o100755 << 16
                name = info
            z.writestr(name, data)
    return buf.getvalue()


_counter = [0]


def unique(prefix="fn") -> str:
    _counter[0] += 1
    return f"{prefix}-{os.getpid()}-{_counter[0]}"


def create(lam, name=None, arch=None, runtime="python3.12", zip_bytes=None, wait=True, **kw):
    name = name or unique()
    args = dict(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": zip_bytes or make_zip()},
    )
    args.update(kw)
    if arch:
        args["Architectures"] = [arch]
    resp = lam.create_function(**args)
    if wait:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    return name, resp


def wait_updated(lam, name):
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})


@pytest.fixture(scope="session")
def runtimes():
    """Installs the runtimes the execution tests use (kept under target/test-runtimes; `archfn runtime
    install` does nothing for a runtime already installed from the current recipe)."""
    wanted = [(rt, arch) for rt in ("python3.11", "provided.al2023", "nodejs20.x", "python3.13", "nodejs18.x", "ruby3.3", "java17", "java21",
                                                 "nodejs22.x", "nodejs24.x")
              for arch in ("x86_64", "arm64")]
    for name, arch in wanted:
        subprocess.run([archfn_bin(), "runtime", "install", name, "--arch", arch, "--runtimes-dir", str(RUNTIMES_DIR)],
                       check=True, stdout=subprocess.DEVNULL)
    return RUNTIMES_DIR
