"""`archfn serve --blobs s3://…`: code zips, layers and objects kept in a bucket of an S3-compatible
server instead of files under the data directory (issue 16's blob backend). The S3 server is a second,
real `archfn serve` (its S3 API, with its own file blobs): node B keeps everything in node A's bucket
and unpacks what it runs into its own local cache."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import Server, archfn_bin, make_zip, unique, ROLE

KEY, SECRET = "AKIDBLOBS", "blobs-secret"
APP = 'import platform\ndef handler(event, context):\n    import shared\n    return {"machine": platform.machine(), "shared": shared.VALUE, "got": event}\n'


def s3_client(server):
    return boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def nodes(runtimes):
    """(A, B): A is a plain server whose S3 API holds bucket `archfn-blobs`; B keeps its blobs there."""
    with tempfile.TemporaryDirectory(prefix="archfn-blobs-") as d:
        a = Server(Path(d) / "a").start()
        s3_client(a).create_bucket(Bucket="archfn-blobs")
        saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        os.environ.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
        try:
            b = Server(Path(d) / "b", ["--blobs", f"s3://archfn-blobs/node-b?endpoint={a.url}"]).start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        yield a, b
        b.stop()
        a.stop()


def bucket_keys(a) -> set[str]:
    pages = s3_client(a).get_paginator("list_objects_v2").paginate(Bucket="archfn-blobs", Prefix="node-b/")
    return {o["Key"] for p in pages for o in p.get("Contents", [])}


def test_code_and_layers_live_in_the_bucket_and_run_on_both_isas(nodes):
    a, b = nodes
    lam = b.client()
    layer_zip = make_zip({"python/shared.py": 'VALUE = "from-the-layer"\n'})
    layer = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": layer_zip},
                                      CompatibleRuntimes=["python3.11"])
    code = make_zip({"app.py": APP})
    for arch, machine in (("x86_64", "x86_64"), ("arm64", "aarch64")):
        name = unique("blobs")
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": code}, Architectures=[arch], Layers=[layer["LayerVersionArn"]])
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        out = lam.invoke(FunctionName=name, Payload=b'{"n": 1}')
        assert "FunctionError" not in out, out["Payload"].read()
        assert json.loads(out["Payload"].read()) == {"machine": machine, "shared": "from-the-layer", "got": {"n": 1}}
    # Both archives are objects of A's bucket, named by their SHA-256; none under B's data directory.
    keys = bucket_keys(a)
    for archive in (code, layer_zip):
        assert f"node-b/blobs/{hashlib.sha256(archive).hexdigest()}" in keys
    assert not (b.data_dir / "blobs").exists() or not any((b.data_dir / "blobs").rglob("*"))
    # GetFunction's code URL streams the zip back out of the bucket.
    url = lam.get_function(FunctionName=name)["Code"]["Location"]
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.read() == code


def test_a_multipart_upload_to_the_node_is_spooled_then_stored_in_the_bucket(nodes, tmp_path):
    a, b = nodes
    s3b = s3_client(b)
    s3b.create_bucket(Bucket="deploys")
    # Over 8 MB: boto3 uploads it in parts, each a piece of one blob written through the spool.
    filler = os.urandom(9 * 1024 * 1024)
    code = make_zip({"app.py": APP.replace("import shared", "shared = type('s', (), {'VALUE': 'none'})"),
                     "filler.bin": filler})
    path = tmp_path / "code.zip"
    path.write_bytes(code)
    s3b.upload_file(str(path), "deploys", "code.zip")
    assert s3b.get_object(Bucket="deploys", Key="code.zip")["Body"].read() == code
    lam = b.client()
    name = unique("blobs-s3")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": "deploys", "S3Key": "code.zip"})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    out = lam.invoke(FunctionName=name, Payload=b"{}")
    assert json.loads(out["Payload"].read())["shared"] == "none"
    assert f"node-b/blobs/{hashlib.sha256(code).hexdigest()}" in bucket_keys(a)
    # Nothing is left in the spool once the blob is stored.
    spool = b.data_dir / "blob-spool"
    assert not any(spool.iterdir())


def test_a_node_with_an_empty_local_cache_unpacks_from_the_bucket(nodes):
    a, b = nodes
    lam = b.client()
    name = unique("blobs-cache")
    code = make_zip({"app.py": APP.replace("import shared", "shared = type('s', (), {'VALUE': 'cold'})")})
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": code})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    # Restarted without its unpacked code: what it runs comes from the bucket again.
    b.stop()
    shutil.rmtree(b.data_dir / "code", ignore_errors=True)
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    try:
        b.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = b.client().invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(out["Payload"].read())
    assert body.get("shared") == "cold", body


def test_bad_locations_and_missing_credentials_stop_the_server_with_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for location, words in (("s3://Bad_Bucket", "invalid blob location"),
                            ("ftp://x", "invalid blob location"),
                            ("s3://good-bucket?endpoint=http://127.0.0.1:9", "AWS_ACCESS_KEY_ID")):
        p = subprocess.run([archfn_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                            "--blobs", location], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert words in p.stderr, p.stderr
