"""Container image functions (PackageType Image) through boto3: images imported with
`archfn image import` (an OCI layout tar or a `docker save` archive, built here without Docker),
named by an ECR-style ImageUri, run on the function's architecture; a foreign-ISA image fails
as Lambda fails it."""

import base64
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import botocore.exceptions
import pytest
from artifacts import debian_package, wheels
from conftest import REPO, ROLE, RUNTIMES_DIR, archfn_bin, make_zip, unique, wait_updated

REGISTRY = "000000000000.dkr.ecr.us-east-1.amazonaws.com"


def c_bootstrap(arch: str) -> bytes:
    cc = {"x86_64": "gcc", "arm64": "aarch64-linux-gnu-gcc"}[arch]
    out = Path(tempfile.mkdtemp()) / "bootstrap"
    subprocess.run([cc, "-static", "-O2", "-o", str(out), str(REPO / "tests/functions/c-runtime/bootstrap.c")], check=True)
    return out.read_bytes()


def layer_tar(files: dict) -> bytes:
    """An uncompressed layer: path to (bytes, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def image_config(go_arch: str, entrypoint, cmd, layers: list, workdir="/var/task") -> bytes:
    return json.dumps({
        "architecture": go_arch, "os": "linux",
        "config": {"Entrypoint": entrypoint, "Cmd": cmd, "WorkingDir": workdir, "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"]},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{sha(layer)}" for layer in layers]},
    }).encode()


def add(t: tarfile.TarFile, name: str, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def oci_manifest(config: bytes, layers: list) -> bytes:
    """The OCI manifest `oci_archive` writes for an image (layers gzip-compressed): its SHA-256
    is the image's digest."""
    gz = [gzip.compress(layer, mtime=0) for layer in layers]
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{sha(config)}", "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": f"sha256:{sha(b)}", "size": len(b)} for b in gz],
    }).encode()


def oci_archive(images: list) -> bytes:
    """An OCI image layout in a tar; `images` is a list of (config bytes, [layer bytes]). More
    than one image makes a multi-platform image (an image index)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        add(t, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        manifests = []
        for config, layers in images:
            gz = [gzip.compress(layer, mtime=0) for layer in layers]
            for blob in [config, *gz]:
                add(t, f"blobs/sha256/{sha(blob)}", blob)
            manifest = oci_manifest(config, layers)
            add(t, f"blobs/sha256/{sha(manifest)}", manifest)
            manifests.append({
                "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{sha(manifest)}", "size": len(manifest),
                "platform": {"architecture": json.loads(config)["architecture"], "os": "linux"},
            })
        if len(manifests) > 1:
            # A multi-platform image, as buildx writes it: the layout points at an image index.
            nested = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                 "manifests": manifests}).encode()
            add(t, f"blobs/sha256/{sha(nested)}", nested)
            manifests = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": f"sha256:{sha(nested)}",
                          "size": len(nested)}]
        add(t, "index.json", json.dumps({"schemaVersion": 2, "manifests": manifests}).encode())
    return buf.getvalue()


def docker_save_archive(config: bytes, layers: list) -> bytes:
    """What `docker save` writes: manifest.json naming the config and uncompressed layer tars."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        add(t, f"{sha(config)}.json", config)
        names = []
        for layer in layers:
            names.append(f"{sha(layer)}/layer.tar")
            add(t, names[-1], layer)
        add(t, "manifest.json", json.dumps([{"Config": f"{sha(config)}.json", "RepoTags": ["x:latest"], "Layers": names}]).encode())
    return buf.getvalue()


def printed_id(printed: str) -> str:
    """The image digest `archfn image import` prints ("REPO:TAG: image <id> for …")."""
    return printed.split(" image ", 1)[1].split()[0]


def import_image(server, archive: bytes, tag: str) -> str:
    path = Path(tempfile.mkdtemp()) / "image.tar"
    path.write_bytes(archive)
    out = subprocess.run([archfn_bin(), "image", "import", str(path), "--tag", tag, "--data-dir", str(server.data_dir)],
                         check=True, capture_output=True, text=True)
    assert "copying layer" in out.stderr or "several platforms" in out.stdout
    return out.stdout


def bootstrap_image(arch: str, entrypoint=("/lambda-entrypoint",)) -> tuple:
    """A one-program image: the C runtime (tests/functions/c-runtime) as /lambda-entrypoint,
    with an empty /var/task in a second layer."""
    go_arch = {"x86_64": "amd64", "arm64": "arm64"}[arch]
    layers = [layer_tar({"lambda-entrypoint": (c_bootstrap(arch), 0o755)}), layer_tar({"var/task/README": (b"image\n", 0o644)})]
    return image_config(go_arch, list(entrypoint), ["app.handler"], layers), layers


def create_image_function(lam, uri: str, arch: str, **kw) -> str:
    name = unique("img")
    resp = lam.create_function(FunctionName=name, Role=ROLE, PackageType="Image", Code={"ImageUri": uri},
                               Architectures=[arch], **kw)
    assert resp["PackageType"] == "Image" and "Runtime" not in resp and "Handler" not in resp
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return name


def invoke(lam, name, event=None):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), LogType="Tail")
    return r, json.loads(r["Payload"].read()), base64.b64decode(r["LogResult"]).decode()


@pytest.mark.parametrize("arch,machine,fmt", [("x86_64", "x86_64", "oci"), ("arm64", "aarch64", "docker-save")])
def test_image_function_runs_on_its_architecture(server, lam, runtimes, arch, machine, fmt):
    config, layers = bootstrap_image(arch)
    archive = oci_archive([(config, layers)]) if fmt == "oci" else docker_save_archive(config, layers)
    repo = unique("team/app").lower()
    printed = import_image(server, archive, f"{repo}:v1")
    digest = printed_id(printed)
    if fmt == "oci":
        # The layout's own manifest is kept, so the image keeps the digest its builder reported.
        assert digest == sha(oci_manifest(config, layers))
    listed = subprocess.run([archfn_bin(), "image", "list", "--data-dir", str(server.data_dir)],
                            check=True, capture_output=True, text=True).stdout
    go_arch = {"x86_64": "amd64", "arm64": "arm64"}[arch]
    assert any(l.split()[:3] == [f"{repo}:v1", digest[:12], f"linux/{go_arch}"] for l in listed.splitlines()), listed
    name = create_image_function(lam, f"{REGISTRY}/{repo}:v1", arch)
    r, body, log = invoke(lam, name, {"from": "image"})
    assert "FunctionError" not in r, body
    assert body == {"machine": machine, "event": {"from": "image"}}
    mode = "native" if arch == "x86_64" else "emulated"
    assert f"Execution: {mode}" in log.splitlines()[-1] and "REPORT" in log
    got = lam.get_function(FunctionName=name)
    assert got["Code"]["RepositoryType"] == "ECR" and got["Code"]["ImageUri"] == f"{REGISTRY}/{repo}:v1"
    assert got["Code"]["ResolvedImageUri"] == f"{REGISTRY}/{repo}@sha256:{digest}"
    assert got["Configuration"]["CodeSha256"] == digest
    # By digest, as ECR URIs often name images.
    by_digest = create_image_function(lam, f"{REGISTRY}/{repo}@sha256:{digest}", arch)
    assert invoke(lam, by_digest)[1]["machine"] == machine


def test_image_config_overrides_the_entrypoint(server, lam, runtimes):
    """ImageConfig.EntryPoint replaces the image's ENTRYPOINT (here one that does not exist)."""
    config, layers = bootstrap_image("x86_64", entrypoint=("/no/such/program",))
    repo = unique("override")
    import_image(server, oci_archive([(config, layers)]), repo)
    uri = f"{REGISTRY}/{repo}:latest"
    broken = create_image_function(lam, uri, "x86_64")
    r, body, log = invoke(lam, broken)
    assert r["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.InvalidEntrypoint"
    assert "fork/exec /no/such/program: no such file or directory" in body["errorMessage"]
    assert "IMAGE\tLaunch error: fork/exec /no/such/program: no such file or directory\tEntrypoint: [/no/such/program]\tCmd: [app.handler]\tWorkingDir: [/var/task]" in log
    fixed = create_image_function(lam, uri, "x86_64", ImageConfig={"EntryPoint": ["/lambda-entrypoint"]})
    r, body, _ = invoke(lam, fixed, {"n": 1})
    assert "FunctionError" not in r, body
    assert body["event"] == {"n": 1}
    assert lam.get_function_configuration(FunctionName=fixed)["ImageConfigResponse"] == {"ImageConfig": {"EntryPoint": ["/lambda-entrypoint"]}}


def test_x86_64_image_in_an_arm64_function_fails_to_launch(server, lam, runtimes):
    """The migration mistake: an amd64 image deployed as arm64. Lambda fails the launch with
    exec format error; so does archfn, at once."""
    config, layers = bootstrap_image("x86_64")
    repo = unique("wrongarch")
    import_image(server, oci_archive([(config, layers)]), f"{repo}:v1")
    name = create_image_function(lam, f"{REGISTRY}/{repo}:v1", "arm64")
    r, body, log = invoke(lam, name)
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert body["errorMessage"].endswith("Error: fork/exec /lambda-entrypoint: exec format error")
    assert "IMAGE\tLaunch error: fork/exec /lambda-entrypoint: exec format error" in log
    # The scanner says why, from the stored image: its platform and its entrypoint.
    with urllib.request.urlopen(f"{server.url}/archfn/v1/functions/{name}/readiness?target=arm64") as resp:
        report = json.loads(resp.read())
    assert report["compatible"] is False
    bad = {f["path"]: f["message"] for f in report["findings"] if f["severity"] == "incompatible"}
    assert any("linux/amd64" in m for m in bad.values()), bad
    assert any(p.endswith("!/lambda-entrypoint") for p in bad), bad
    out = subprocess.run([archfn_bin(), "scan", "--function", name, "--endpoint", server.url, "--target", "x86_64"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_unknown_and_multi_platform_images_are_refused(server, lam, runtimes):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName=unique("img"), Role=ROLE, PackageType="Image", Code={"ImageUri": f"{REGISTRY}/nothing:here"})
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidParameterValueException"
    assert err["Message"] == f"Source image {REGISTRY}/nothing:here does not exist. Provide a valid source image."
    repo = unique("multi")
    x86, arm = bootstrap_image("x86_64"), bootstrap_image("arm64")
    printed = import_image(server, oci_archive([x86, arm]), repo)
    assert "linux/amd64" in printed and "linux/arm64" in printed
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName=unique("img"), Role=ROLE, PackageType="Image", Code={"ImageUri": f"{REGISTRY}/{repo}"})
    assert e.value.response["Error"]["Message"] == (
        f"The image manifest, config or layer media type for the source image {REGISTRY}/{repo} is not supported."
    )
    # The arm64 half of the same build, picked at import, is one Lambda takes.
    path = Path(tempfile.mkdtemp()) / "multi.tar"
    path.write_bytes(oci_archive([x86, arm]))
    out = subprocess.run([archfn_bin(), "image", "import", str(path), "--tag", f"{repo}:arm64", "--platform", "linux/arm64",
                          "--data-dir", str(server.data_dir)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert printed_id(out.stdout) == sha(oci_manifest(*arm))
    name = create_image_function(lam, f"{REGISTRY}/{repo}:arm64", "arm64")
    r, body, _ = invoke(lam, name)
    assert "FunctionError" not in r and body["machine"] == "aarch64", body
    out = subprocess.run([archfn_bin(), "image", "import", str(path), "--tag", repo, "--platform", "linux/s390x",
                          "--data-dir", str(server.data_dir)], capture_output=True, text=True)
    assert out.returncode != 0 and "linux/amd64 (x86_64) and linux/arm64 only" in out.stderr


def test_image_code_updates_take_image_uris_only(server, lam, runtimes):
    repo = unique("updates")
    x86, arm = bootstrap_image("x86_64"), bootstrap_image("arm64")
    import_image(server, oci_archive([x86]), f"{repo}:x86")
    import_image(server, oci_archive([arm]), f"{repo}:arm")
    name = create_image_function(lam, f"{REGISTRY}/{repo}:x86", "x86_64")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_code(FunctionName=name, ZipFile=make_zip())
    assert e.value.response["Error"]["Message"] == "Please provide ImageUri when updating a function with packageType Image."
    # Moving to arm64: the arm64 image and the architecture in one update.
    resp = lam.update_function_code(FunctionName=name, ImageUri=f"{REGISTRY}/{repo}:arm", Architectures=["arm64"])
    assert resp["CodeSha256"] == sha(oci_manifest(*arm)) and resp["Architectures"] == ["arm64"]
    wait_updated(lam, name)
    r, body, _ = invoke(lam, name)
    assert "FunctionError" not in r, body
    assert body["machine"] == "aarch64"


def tree_layer(root: Path, prefix: str = "") -> bytes:
    """An uncompressed layer of a directory tree, as `docker save` stores layers."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for path in sorted(root.rglob("*")):
            t.add(path, arcname=prefix + str(path.relative_to(root)), recursive=False)
    return buf.getvalue()


APP = """import platform


def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"machine": platform.machine(), "request_id": context.aws_request_id,
            "function": context.function_name, "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 30000}
"""


@pytest.mark.parametrize("arch,machine", [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_awslambdaric_image(server, lam, runtimes, arch, machine):
    """An image made as AWS documents for a non-AWS base image: a Debian Python with AWS's own
    runtime interface client (awslambdaric, from PyPI, built for the image's platform) as
    ENTRYPOINT and the handler as CMD. AWS's client runs unmodified against archfn's Runtime API."""
    platform_tag = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}[arch]
    task = Path(tempfile.mkdtemp())
    # Installed by unpacking: pip on this host will not install another platform's wheels.
    for wheel in wheels("awslambdaric==4.2.2", "simplejson==4.3.0", "snapshot-restore-py==1.0.0", platform=platform_tag):
        zipfile.ZipFile(wheel).extractall(task)
    (task / "app.py").write_text(APP)
    go_arch = {"x86_64": "amd64", "arm64": "arm64"}[arch]
    base = tree_layer(RUNTIMES_DIR / "python3.11" / arch / "rootfs")
    # The client's C extension links libstdc++: the image installs it, as a Dockerfile would.
    libs = [tree_layer(debian_package(p, go_arch)) for p in ("libstdc++6", "libgcc-s1")]
    layers = [base, *libs, tree_layer(task, "var/task/")]
    config = image_config(go_arch, ["/usr/bin/python3.11", "-m", "awslambdaric"], ["app.handler"], layers)
    repo = unique("ric")
    import_image(server, docker_save_archive(config, layers), repo)
    name = create_image_function(lam, f"{REGISTRY}/{repo}", arch, Timeout=30)
    r, body, log = invoke(lam, name)
    assert "FunctionError" not in r, log
    assert body["machine"] == machine and body["function"] == name and body["remaining_ok"]
    assert body["request_id"] == r["ResponseMetadata"]["RequestId"]
    r, body, _ = invoke(lam, name, {"fail": True})
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "asked to fail"


def skopeo_push(server, source: str, repo_tag: str, *flags: str):
    dest = f"docker://127.0.0.1:{server.port}/{repo_tag}"
    out = subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", *flags, source, dest],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("fmt", ["oci-archive", "docker-archive"])
def test_images_pushed_with_skopeo_run(server, lam, runtimes, fmt):
    """`skopeo copy … docker://archfn/REPO:TAG` (what `docker push` does) through archfn's
    registry API; the function then names the image by ImageUri and runs on arm64."""
    config, layers = bootstrap_image("arm64")
    path = Path(tempfile.mkdtemp()) / "image.tar"
    path.write_bytes(oci_archive([(config, layers)]) if fmt == "oci-archive" else docker_save_archive(config, layers))
    repo = unique("pushed")
    skopeo_push(server, f"{fmt}:{path}", f"{repo}:v1")
    name = create_image_function(lam, f"{REGISTRY}/{repo}:v1", "arm64")
    r, body, _ = invoke(lam, name, {"pushed": fmt})
    assert "FunctionError" not in r, body
    assert body == {"machine": "aarch64", "event": {"pushed": fmt}}
    # The registry serves what was pushed: the manifest names the same config, and its digest
    # is the function's CodeSha256.
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://127.0.0.1:{server.port}/{repo}:v1"],
                         capture_output=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["config"]["digest"] == f"sha256:{sha(config)}"
    assert lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"] == sha(out.stdout)
    # And it can be pulled back whole.
    back = Path(tempfile.mkdtemp()) / "back"
    out = subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                          f"docker://127.0.0.1:{server.port}/{repo}:v1", f"oci:{back}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_a_pushed_multi_platform_index_is_refused_but_its_platforms_are_not(server, lam, runtimes):
    x86, arm = bootstrap_image("x86_64"), bootstrap_image("arm64")
    path = Path(tempfile.mkdtemp()) / "image.tar"
    path.write_bytes(oci_archive([x86, arm]))
    repo = unique("pushedmulti")
    skopeo_push(server, f"oci-archive:{path}", repo, "--all")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName=unique("img"), Role=ROLE, PackageType="Image", Code={"ImageUri": f"{REGISTRY}/{repo}:latest"})
    assert "is not supported" in e.value.response["Error"]["Message"]
    # One platform of it, by its manifest's digest, is an image Lambda takes.
    arm_digest = sha(oci_manifest(*arm))
    name = create_image_function(lam, f"{REGISTRY}/{repo}@sha256:{arm_digest}", "arm64")
    r, body, _ = invoke(lam, name)
    assert "FunctionError" not in r, body
    assert body["machine"] == "aarch64"


def test_registry_refuses_what_it_cannot_take(server):
    """Bad pushes get the distribution API's errors, and the server keeps serving."""
    def put(path, body, method="PUT"):
        req = urllib.request.Request(f"{server.url}/v2/{path}", data=body, method=method,
                                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        error = json.loads(e.value.read())["errors"][0]
        put.message = error["message"]
        return e.value.code, error["code"]
    # Over the 4 MiB manifests are held to (a valid document otherwise: the limit refuses it).
    big = json.dumps({"schemaVersion": 2, "annotations": {"x": "x" * (5 * 1024 * 1024)}}).encode()
    assert put("app/manifests/v1", big) == (400, "MANIFEST_INVALID")
    assert "length limit exceeded" in put.message
    assert put("app/manifests/v1", b"not json") == (400, "MANIFEST_INVALID")
    missing = json.dumps({"schemaVersion": 2, "config": {"digest": "sha256:" + "0" * 64}, "layers": []}).encode()
    assert put("app/manifests/v1", missing) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert put(f"app/blobs/uploads/{'f' * 32}", b"data", "PATCH") == (404, "BLOB_UPLOAD_UNKNOWN")
    # An upload whose content does not match its digest is refused and not kept.
    req = urllib.request.Request(f"{server.url}/v2/app/blobs/uploads/?digest=sha256:{'1' * 64}", data=b"data", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400 and json.loads(e.value.read())["errors"][0]["code"] == "DIGEST_INVALID"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(f"{server.url}/v2/app/blobs/sha256:{'1' * 64}", method="HEAD"))
    assert e.value.code == 404
    with urllib.request.urlopen(server.url + "/v2/") as r:
        assert r.status == 200
