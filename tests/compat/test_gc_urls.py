"""Storage is collected and code URLs expire: a create/delete loop leaves the data directory
and TotalCodeSize where they were; an old Code.Location answers 403 after its expiry and 404 once
its function is gone; names Lambda's patterns refuse (`.`, `..`, `...`, `a/b`) are refused."""

import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, create, make_zip, unique

URL_TTL = 4


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="archfn-gc-") as d:
        s = Server(Path(d) / "data", ["--gc-interval", "1", "--gc-grace", "0",
                                      "--code-url-ttl", str(URL_TTL)]).start()
        yield s
        s.stop()


@pytest.fixture(scope="module")
def lam(server):
    return server.client()


def tree_size(root: Path) -> int:
    """Bytes allocated on disk under `root`, without `engine/scratch` (the pool of sparse /tmp
    images environments take, bounded and refilled on its own schedule)."""
    total = 0
    for dirpath, dirs, files in os.walk(root):
        if Path(dirpath) == root / "engine":
            dirs[:] = [d for d in dirs if d != "scratch"]
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def stored_items(data: Path) -> int:
    """Blobs (files under blobs/) and unpacked trees (entries of code/ and engine/opt/)."""
    blobs = sum(len(files) for _p, _d, files in os.walk(data / "blobs"))
    tops = sum(len(os.listdir(d)) for d in (data / "code", data / "engine" / "opt") if d.exists())
    return blobs + tops


def fetch(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def total_code_size(lam) -> int:
    return lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]


def random_zip(n: int = 64 * 1024) -> bytes:
    return make_zip({"lambda_function.py": "def handler(e, c):\n    return e\n", "blob.bin": os.urandom(n)})


def test_create_delete_loop_leaves_storage_where_it_was(server, lam):
    data = server.data_dir
    usage_before = total_code_size(lam)
    size_before = tree_size(data)
    stored = lambda: stored_items(data)  # noqa: E731
    entries_before = stored()

    layers = []
    for i in range(4):
        v = lam.publish_layer_version(LayerName=unique("gc-layer"), Content={"ZipFile": random_zip()})
        layers.append(v)
    names = []
    for i in range(200):
        kw = {}
        if i % 10 == 0:
            kw["Layers"] = [layers[i % len(layers)]["LayerVersionArn"]]
        name, _ = create(lam, zip_bytes=random_zip(), wait=False, **kw)
        names.append(name)
    for name in names:
        lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                                  WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    lam.publish_version(FunctionName=names[0])
    size_full = tree_size(data)
    assert size_full - size_before > 10 * 1024 * 1024, "the loop stored code (unzipped and zipped)"
    assert total_code_size(lam) > usage_before

    for name in names:
        lam.delete_function(FunctionName=name)
    for v in layers:
        name, version = v["LayerVersionArn"].rsplit(":", 1)
        lam.delete_layer_version(LayerName=name.rsplit(":", 1)[1], VersionNumber=int(version))
    assert total_code_size(lam) == usage_before

    deadline = time.time() + 30
    while time.time() < deadline:
        size_after = tree_size(data)
        if stored() <= entries_before and size_after - size_before < 6 * 1024 * 1024:
            break
        time.sleep(0.5)
    print(f"\ndata dir: before {size_before} B, with 200 functions {size_full} B, after GC {size_after} B;"
          f" stored items before {entries_before}, after {stored()};"
          f" metadata (archfn.db*) {sum(f.stat().st_blocks * 512 for f in data.glob('archfn.db*'))} B")
    # What remains is the metadata database and its WAL, which SQLite does not shrink.
    assert stored() <= entries_before, "every blob and unpacked directory was collected"
    assert size_after - size_before < 6 * 1024 * 1024


def test_code_url_expires(lam):
    name, _ = create(lam)
    url = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert "expires=" in url
    status, body = fetch(url)
    assert status == 200 and body[:2] == b"PK"
    time.sleep(URL_TTL + 1.5)
    status, body = fetch(url)
    assert status == 403
    assert b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body
    # Stretching the expiry breaks the token.
    stretched = url.replace("expires=", "expires=9")
    status, body = fetch(stretched)
    assert status == 403 and b"Request has expired" not in body
    lam.delete_function(FunctionName=name)


def test_code_url_dies_with_its_function_and_layer(lam):
    zip_bytes = random_zip(1024)
    name, _ = create(lam, zip_bytes=zip_bytes)
    url = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert fetch(url)[0] == 200
    lam.delete_function(FunctionName=name)
    status, body = fetch(url)
    assert status in (403, 404) and b"<Error>" in body

    layer = unique("gc-url-layer")
    v = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": random_zip(1024)})
    url = v["Content"]["Location"]
    assert fetch(url)[0] == 200
    lam.delete_layer_version(LayerName=layer, VersionNumber=v["Version"])
    assert fetch(url)[0] in (403, 404)


BAD_NAMES = [".", "..", "...", "a/b"]


def assert_validation(call, value, field, pattern_start):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationException", (value, err)
    assert err["Message"].startswith(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {pattern_start}"), err["Message"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_function_names_lambda_refuses(lam, bad):
    assert_validation(lambda: lam.create_function(FunctionName=bad, Runtime="python3.12", Role=ROLE,
                                                  Handler="lambda_function.handler",
                                                  Code={"ZipFile": make_zip()}),
                      bad, "functionName", "(arn:(aws[a-zA-Z-]*)?:lambda:)?")
    if bad != "a/b":  # a slash cannot be part of the path it would be sent in
        assert_validation(lambda: lam.get_function(FunctionName=bad), bad, "functionName",
                          "(arn:(aws[a-zA-Z-]*)?:lambda:)?")


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_layer_names_lambda_refuses(lam, bad):
    # The pattern Lambda quotes is its model's, as botocore ships it.
    pattern = lam.meta.service_model.operation_model("PublishLayerVersion").input_shape.members["LayerName"].metadata["pattern"]
    assert_validation(lambda: lam.publish_layer_version(LayerName=bad, Content={"ZipFile": make_zip()}),
                      bad, "layerName", pattern)


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_alias_names_lambda_refuses(lam, bad):
    name, _ = create(lam)
    lam.publish_version(FunctionName=name)
    assert_validation(lambda: lam.create_alias(FunctionName=name, Name=bad, FunctionVersion="1"),
                      bad, "name", "(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
    assert_validation(lambda: lam.get_alias(FunctionName=name, Name=bad), bad, "name",
                      "(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
    lam.delete_function(FunctionName=name)
