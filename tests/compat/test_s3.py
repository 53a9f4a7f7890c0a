"""archfn's S3 on the Lambda endpoint: what `aws s3 cp`, boto3 uploads and deployment tools use,
with S3's errors, driven by boto3 and the AWS CLI."""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from conftest import Server, unique


def s3_client(server, key="AKIDARCHFN", secret="archfn-secret"):
    return boto3.client("s3", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 0}))


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server)


def code_of(e):
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_buckets_and_objects(s3):
    bucket = unique("bkt")
    s3.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=bucket)
    put = s3.put_object(Bucket=bucket, Key="dir/a.txt", Body=b"hello world", ContentType="text/plain",
                        Metadata={"purpose": "test"})
    assert put["ETag"] == '"5eb63bbbe01eeed093cb22bb8f5acdc3"'
    got = s3.get_object(Bucket=bucket, Key="dir/a.txt")
    assert got["Body"].read() == b"hello world"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"purpose": "test"}
    head = s3.head_object(Bucket=bucket, Key="dir/a.txt")
    assert head["ContentLength"] == 11 and head["ETag"] == put["ETag"]
    part = s3.get_object(Bucket=bucket, Key="dir/a.txt", Range="bytes=6-")
    assert part["Body"].read() == b"world" and part["ContentRange"] == "bytes 6-10/11"
    # Overwrite replaces.
    s3.put_object(Bucket=bucket, Key="dir/a.txt", Body=b"v2")
    assert s3.get_object(Bucket=bucket, Key="dir/a.txt")["Body"].read() == b"v2"


def test_listing_with_prefix_delimiter_and_pages(s3):
    bucket = unique("list")
    s3.create_bucket(Bucket=bucket)
    keys = ["a/1", "a/2", "a/b/3", "b/1", "c", "d%_x"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    everything = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in everything["Contents"]] == sorted(keys)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == ["c", "d%_x"]
    under_a = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in under_a["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in under_a["CommonPrefixes"]] == ["a/b/"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    seen = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert seen == sorted(keys)


def test_multipart_upload_of_a_large_file(s3, tmp_path):
    bucket = unique("mp")
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(12 * 1024 * 1024 + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(src), bucket, "big.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    parts = [data[i:i + 5 * 1024 * 1024] for i in range(0, len(data), 5 * 1024 * 1024)]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
    assert head["ETag"] == f'"{expected}"'
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(dst))
    assert dst.read_bytes() == data


def test_multipart_errors(s3):
    bucket = unique("mperr")
    s3.create_bucket(Bucket=bucket)
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=2, Body=b"tail")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert code_of(e) == ("EntityTooSmall", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert code_of(e) == ("InvalidPartOrder", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 3, "ETag": e2}]})
    assert code_of(e) == ("InvalidPart", 400)
    # A single small part is a whole object.
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 2, "ETag": e2}]})
    assert done["ETag"].endswith('-1"')
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"tail"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up, PartNumber=1, Body=b"late")
    assert code_of(e) == ("NoSuchUpload", 404)
    up2 = s3.create_multipart_upload(Bucket=bucket, Key="k2")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="k2", UploadId=up2)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k2", UploadId=up2, PartNumber=1, Body=b"x")
    assert code_of(e) == ("NoSuchUpload", 404)


def test_s3_errors(s3):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=unique("nobucket"), Key="k")
    assert code_of(e) == ("NoSuchBucket", 404)
    bucket = unique("errs")
    s3.create_bucket(Bucket=bucket)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="missing")
    assert code_of(e) == ("NoSuchKey", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket=unique("nobucket"))
    assert code_of(e)[1] == 404
    s3.put_object(Bucket=bucket, Key="x", Body=b"1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert code_of(e) == ("BucketNotEmpty", 409)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="x", Range="bytes=5-9")
    assert code_of(e) == ("InvalidRange", 416)
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x"}, {"Key": "never-was"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["never-was", "x"]
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_objects_survive_a_restart(tmp_path):
    s = Server(tmp_path / "data").start()
    try:
        c = s3_client(s)
        c.create_bucket(Bucket="durable")
        c.put_object(Bucket="durable", Key="k", Body=b"kept")
        s.kill()
        s.start()
        assert s3_client(s).get_object(Bucket="durable", Key="k")["Body"].read() == b"kept"
    finally:
        s.stop()


def test_aws_cli_copies_files(server, tmp_path):
    bucket = unique("cli")
    src = tmp_path / "f.bin"
    data = os.urandom(9 * 1024 * 1024)
    src.write_bytes(data)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDARCHFN", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    aws = [sys.executable, "-m", "awscli", "--endpoint-url", server.url]
    for args in (["s3", "mb", f"s3://{bucket}"], ["s3", "cp", str(src), f"s3://{bucket}/f.bin"],
                 ["s3", "cp", f"s3://{bucket}/f.bin", str(tmp_path / "back.bin")]):
        done = subprocess.run(aws + args, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "back.bin").read_bytes() == data
    listing = subprocess.run(aws + ["s3", "ls", f"s3://{bucket}/"], env=env, capture_output=True, text=True)
    assert "f.bin" in listing.stdout


def test_signatures_are_verified_under_sigv4():
    with tempfile.TemporaryDirectory(prefix="archfn-s3auth-") as d:
        creds = Path(d) / "credentials"
        creds.write_text("[default]\naws_access_key_id = AKIDGOOD\naws_secret_access_key = good-secret\n")
        s = Server(Path(d) / "data", ["--auth", "sigv4", "--credentials-file", str(creds)]).start()
        try:
            good = s3_client(s, "AKIDGOOD", "good-secret")
            good.create_bucket(Bucket="signed")
            good.put_object(Bucket="signed", Key="k", Body=b"x" * 100_000)
            with pytest.raises(botocore.exceptions.ClientError) as e:
                s3_client(s, "AKIDGOOD", "wrong").get_object(Bucket="signed", Key="k")
            assert code_of(e) == ("SignatureDoesNotMatch", 403)
            with pytest.raises(botocore.exceptions.ClientError) as e:
                s3_client(s, "AKIDNOBODY", "x").list_buckets()
            assert code_of(e) == ("InvalidAccessKeyId", 403)
        finally:
            s.stop()
