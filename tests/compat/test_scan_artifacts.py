"""`archfn scan` on real artifacts from the registries: wheels from PyPI, npm platform packages,
Debian binaries of both architectures (as a bootstrap, an extension, in a layer, in a jar, as
.NET assets, in container images), Go and Rust programs. Each gets the right verdict and
names the culprit."""

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import zipfile

from artifacts import debian_package, hello, install_wheels, libz, npm_package, wheels
from conftest import REPO, archfn_bin, create, make_zip


def scan(*args):
    return subprocess.run([archfn_bin(), "scan", *map(str, args)], capture_output=True, text=True)


def scan_json(*args):
    out = scan(*args, "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def zip_of(files: dict, path) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return str(path)


def bad(report):
    return [f for f in report["findings"] if f["severity"] == "incompatible"]


def test_x86_64_wheel_of_a_numeric_library():
    (wheel,) = wheels("numpy==2.2.6", platform="manylinux2014_x86_64")
    rc, report = scan_json(wheel, "--target", "arm64")
    assert rc == 1 and report["compatible"] is False
    so = [f for f in bad(report) if f["kind"] == "elf"]
    assert so and all(f["component"] == "numpy 2.2.6" and f["architecture"] == "x86_64" for f in so)
    assert any(f["path"].startswith("numpy/_core/_multiarray_umath") for f in so)
    assert "pip download --platform manylinux2014_aarch64 --only-binary=:all: numpy==2.2.6" in so[0]["advice"]
    tags = [f for f in bad(report) if f["kind"] == "wheel"]
    assert tags and "manylinux_2_17_x86_64" in tags[0]["architecture"]
    assert scan(wheel, "--target", "x86_64").returncode == 0


def test_a_pure_python_dependency_set_is_reported_fine(tmp_path):
    pure = wheels("requests==2.32.3", "idna==3.10", "urllib3==2.2.3", "certifi==2024.8.30")
    pkg = install_wheels(pure, tmp_path / "pkg")
    (pkg / "app.py").write_text("import requests\n")
    for target in ("arm64", "x86_64"):
        rc, report = scan_json(pkg, "--target", target)
        assert rc == 0, report
        fine = {f["component"] for f in report["findings"] if f["severity"] == "ok" and f["kind"] == "wheel"}
        assert fine == {"requests 2.32.3", "idna 3.10", "urllib3 2.2.3", "certifi 2024.8.30"}
        assert all(f["severity"] == "ok" for f in report["findings"])


def test_npm_platform_packages_of_both_architectures(tmp_path):
    x64 = npm_package("@esbuild/linux-x64@0.25.0")
    arm = npm_package("@esbuild/linux-arm64@0.25.0")
    # A .tgz straight from the registry.
    rc, report = scan_json(x64, "--target", "arm64")
    assert rc == 1
    culprits = {f["path"]: f for f in bad(report)}
    assert set(culprits) == {"package/bin/esbuild", "package/package.json"}
    esb = culprits["package/bin/esbuild"]
    assert esb["component"] == "@esbuild/linux-x64 0.25.0" and esb["architecture"] == "x86_64"
    assert "Go program (go1." in esb["message"]
    assert esb["advice"].startswith("install @esbuild/linux-arm64 instead")
    assert scan(arm, "--target", "arm64").returncode == 0
    assert scan(arm, "--target", "x86_64").returncode == 1
    # Installed side by side in node_modules: the unused one is not a problem.
    pkg = tmp_path / "pkg"
    for tgz, name in ((x64, "linux-x64"), (arm, "linux-arm64")):
        dest = pkg / "node_modules" / "@esbuild" / name
        dest.mkdir(parents=True)
        subprocess.run(["tar", "-xzf", str(tgz), "-C", str(dest), "--strip-components=1"], check=True)
    (pkg / "index.js").write_text("exports.handler = async () => 1;\n")
    for target in ("arm64", "x86_64"):
        rc, report = scan_json(pkg, "--target", target)
        assert rc == 0, bad(report)
        assert any("is in the package too" in f["message"] for f in report["findings"])


def test_debian_binaries_as_bootstrap_and_extension(tmp_path):
    x86 = zip_of({"bootstrap": hello("amd64")}, tmp_path / "x86.zip")
    arm = zip_of({"bootstrap": hello("arm64")}, tmp_path / "arm.zip")
    rc, report = scan_json(x86, "--target", "arm64")
    assert rc == 1
    (boot,) = bad(report)
    assert boot["path"] == "bootstrap" and boot["architecture"] == "x86_64"
    assert "Runtime.InvalidEntrypoint" in boot["message"]
    # The arm64 build runs on arm64; its glibc floor (2.34, from .gnu.version_r) is judged
    # against the runtime's OS.
    assert scan(arm, "--target", "arm64", "--runtime", "provided.al2023").returncode == 0
    rc, report = scan_json(arm, "--target", "arm64", "--runtime", "provided.al2")
    assert rc == 1
    (glibc,) = bad(report)
    assert glibc["kind"] == "glibc" and "needs glibc 2.34; provided.al2 runs Amazon Linux 2 with glibc 2.26" in glibc["message"]
    # An extension of the wrong ISA in a layer.
    layer = zip_of({"extensions/telemetry": hello("amd64"), "lib/libz.so.1": libz("arm64")}, tmp_path / "layer.zip")
    rc, report = scan_json(layer, "--target", "arm64")
    assert rc == 1
    assert [f["path"] for f in bad(report)] == ["extensions/telemetry"]
    assert "extension will not start" in bad(report)[0]["message"]


def test_a_layer_of_debian_libraries_names_the_layer(server, lam, tmp_path):
    layer = zip_of({"lib/libz.so.1": libz("amd64")}, tmp_path / "layer.zip")
    arn = lam.publish_layer_version(LayerName="zlib", Content={"ZipFile": open(layer, "rb").read()},
                                    CompatibleArchitectures=["x86_64"])["LayerVersionArn"]
    name, _ = create(lam, runtime="python3.12", arch="x86_64", Layers=[arn], zip_bytes=make_zip({"app.py": "x = 1\n"}))
    out = subprocess.run([archfn_bin(), "scan", "--function", name, "--endpoint", server.url, "--format", "json"],
                         capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    (f,) = bad(json.loads(out.stdout))
    assert f["path"] == f"{arn}!/lib/libz.so.1" and f["component"] == arn
    assert f["advice"].startswith("republish the layer with arm64 builds")


def test_a_jar_with_native_libraries(tmp_path):
    pom = "groupId=net.java.dev.jna\nartifactId=jna\nversion=5.5.0\n"
    only_x86 = {"META-INF/maven/net.java.dev.jna/jna/pom.properties": pom,
                "com/sun/jna/Native.class": b"\xca\xfe\xba\xbe\x00\x00\x00\x34",
                "com/sun/jna/linux-x86-64/libjnidispatch.so": libz("amd64")}
    jar = tmp_path / "jna.jar"
    zip_of(only_x86, jar)
    fn = zip_of({"lib/jna.jar": jar.read_bytes(), "com/example/Handler.class": b"\xca\xfe\xba\xbe\0\0\0\x34"}, tmp_path / "fn.zip")
    rc, report = scan_json(fn, "--target", "arm64")
    assert rc == 1
    (f,) = bad(report)
    assert f["path"] == "lib/jna.jar!/com/sun/jna/linux-x86-64/libjnidispatch.so"
    assert f["component"] == "net.java.dev.jna:jna:5.5.0"
    assert "linux aarch64 native libraries" in f["advice"]
    both = dict(only_x86, **{"com/sun/jna/linux-aarch64/libjnidispatch.so": libz("arm64")})
    zip_of(both, jar)
    rc, report = scan_json(jar, "--target", "arm64")
    assert rc == 0, bad(report)
    assert any(f["severity"] == "ok" and "multi-platform" in f["message"] for f in report["findings"])


def test_dotnet_runtime_specific_assets(tmp_path):
    deps = {"targets": {".NETCoreApp,Version=v8.0/linux-x64": {
        "SQLitePCLRaw.lib.e_sqlite3/2.1.6": {"runtimeTargets": {
            "runtimes/linux-x64/native/libe_sqlite3.so": {"rid": "linux-x64", "assetType": "native"}}}}}}
    pub = tmp_path / "publish"
    (pub / "runtimes" / "linux-x64" / "native").mkdir(parents=True)
    (pub / "runtimes" / "linux-x64" / "native" / "libe_sqlite3.so").write_bytes(libz("amd64"))
    (pub / "App.deps.json").write_text(json.dumps(deps))
    rc, report = scan_json(pub, "--target", "arm64")
    assert rc == 1
    (f,) = bad(report)
    assert f["component"] == "SQLitePCLRaw.lib.e_sqlite3 2.1.6"
    assert "dotnet publish -r linux-arm64" in f["advice"]
    (pub / "runtimes" / "linux-arm64" / "native").mkdir(parents=True)
    (pub / "runtimes" / "linux-arm64" / "native" / "libe_sqlite3.so").write_bytes(libz("arm64"))
    assert scan(pub, "--target", "arm64").returncode == 0


def _layer_tar(files: dict, compress: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw) if compress else raw


def _blob(root, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def _image(root, arch: str, bootstrap: bytes) -> dict:
    """Writes one image's layer, config and manifest as blobs; returns its index entry."""
    layer = _layer_tar({"var/task/bootstrap": bootstrap, "usr/lib/libz.so.1": libz(arch)}, compress=True)
    layer_digest = _blob(root, layer)
    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers"}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _blob(root, config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}]}).encode()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _blob(root, manifest), "size": len(manifest),
            "platform": {"architecture": arch, "os": "linux"}}


def test_oci_image_layouts(tmp_path):
    single = tmp_path / "arm-image"
    entry = _image(single, "arm64", hello("arm64"))
    (single / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (single / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    rc, report = scan_json(single, "--target", "arm64")
    assert rc == 0, bad(report)
    assert any(f["kind"] == "image" and f["architecture"] == "linux/arm64" for f in report["findings"])
    rc, report = scan_json(single, "--target", "x86_64")
    assert rc == 1
    paths = {f["path"]: f for f in bad(report)}
    image = [f for f in bad(report) if f["kind"] == "image"][0]
    assert "image built for linux/arm64" in image["message"] and "docker buildx build --platform linux/amd64" in image["advice"]
    assert any(p.startswith("layer 1/1 ") and p.endswith("!/var/task/bootstrap") for p in paths)
    # A multi-arch index: each target picks its own manifest.
    multi = tmp_path / "multi"
    entries = [_image(multi, "amd64", hello("amd64")), _image(multi, "arm64", hello("arm64"))]
    (multi / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (multi / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    for target in ("arm64", "x86_64"):
        rc, report = scan_json(multi, "--target", target)
        assert rc == 0, bad(report)
        (img,) = [f for f in report["findings"] if f["kind"] == "image"]
        assert "the index offers linux/amd64, linux/arm64" in img["message"]
    # The same layout as a tar (what `docker save` and `skopeo copy oci-archive:` write).
    tar = tmp_path / "multi.tar"
    with tarfile.open(tar, "w") as t:
        t.add(multi, arcname=".")
    assert scan(tar, "--target", "arm64").returncode == 0


def test_docker_save_archive(tmp_path):
    layer = _layer_tar({"var/task/bootstrap": hello("amd64")}, compress=False)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    tar = tmp_path / "image.tar"
    with tarfile.open(tar, "w") as t:
        for name, data in (("abc123/layer.tar", layer), ("cfg.json", config),
                           ("manifest.json", json.dumps([{"Config": "cfg.json", "RepoTags": ["fn:latest"], "Layers": ["abc123/layer.tar"]}]).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    rc, report = scan_json(tar, "--target", "arm64")
    assert rc == 1
    kinds = sorted(f["kind"] for f in bad(report))
    assert kinds == ["elf", "image"]
    assert scan(tar, "--target", "x86_64").returncode == 0


def test_go_and_rust_programs(tmp_path):
    subprocess.run(["cargo", "build", "-q", "-p", "rust-echo"], cwd=REPO, check=True)
    rust = REPO / "target" / "debug" / "rust-echo"
    fn = zip_of({"bootstrap": rust.read_bytes()}, tmp_path / "rust.zip")
    rc, report = scan_json(fn, "--target", "arm64")
    assert rc == 1
    (f,) = bad(report)
    assert "Rust program" in f["message"] and "cargo lambda build --release --arm64" in f["advice"]
    with tarfile.open(npm_package("@esbuild/linux-x64@0.25.0")) as t:
        esbuild = t.extractfile("package/bin/esbuild").read()
    fn = zip_of({"bootstrap": esbuild}, tmp_path / "go.zip")
    rc, report = scan_json(fn, "--target", "arm64")
    (f,) = bad(report)
    assert "static Go program (go1." in f["message"] and "GOARCH=arm64 go build" in f["advice"]


def test_hostile_inputs_give_findings_or_errors(tmp_path):
    # A tgz cut in half: what was read is reported, and the cut is a finding.
    whole = _layer_tar({"a/bootstrap": hello("amd64"), "b/libz.so": libz("amd64")}, compress=True)
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(whole[: len(whole) // 2])
    out = scan(cut, "--format", "json")
    assert out.returncode in (0, 1), out.stderr
    assert any(f["kind"] == "unreadable" for f in json.loads(out.stdout)["findings"])
    # A zip bomb's shape: 1 GB of zeros behind an ELF header, read only as far as needed.
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("lib/huge.so", "w", force_zip64=True) as w:
            w.write(libz("amd64")[:4096])
            chunk = bytes(1 << 20)
            for _ in range(1024):
                w.write(chunk)
    rc, report = scan_json(bomb, "--target", "arm64")
    assert rc == 1 and bad(report)[0]["path"] == "lib/huge.so"
    # Garbage is a usage error, not a crash.
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\0" * 100 + b"ustar" * 3)
    assert scan(junk).returncode == 2


def test_a_ruby_gem_with_a_native_extension_from_debian(tmp_path):
    """Debian's ruby-json (its C extension built for amd64) laid out as `bundle install --path
    vendor/bundle` lays out a compiled gem, next to a platform gem's specification."""
    base = "vendor/bundle/ruby/3.3.0"
    files = {"app.rb": "require 'json'\n", f"{base}/specifications/json-2.6.3.gemspec": "Gem::Specification.new\n",
             f"{base}/specifications/nokogiri-1.16.0-x86_64-linux.gemspec": "Gem::Specification.new\n"}
    root = debian_package("ruby-json", "amd64")
    sos = sorted(root.rglob("*.so"))
    assert sos, "ruby-json ships its extension as shared objects"
    for so in sos:
        files[f"{base}/extensions/x86_64-linux/3.3.0/json-2.6.3/json/ext/{so.name}"] = so.read_bytes()
    code, report = scan_json(zip_of(files, tmp_path / "ruby.zip"), "--target", "arm64")
    assert code == 1
    found = bad(report)
    ext = [f for f in found if f["kind"] == "elf"]
    assert ext and all(f["component"] == "json 2.6.3" and f["architecture"] == "x86_64" for f in ext), found
    assert "bundle lock --add-platform aarch64-linux" in ext[0]["advice"]
    gem = next(f for f in found if f["kind"] == "gem")
    assert gem["component"] == "nokogiri 1.16.0" and "--platform aarch64-linux" in gem["advice"]
    # For x86_64 both are fine.
    code, report = scan_json(tmp_path / "ruby.zip", "--target", "x86_64")
    assert code == 0, bad(report)
