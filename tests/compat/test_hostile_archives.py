"""Hostile archives, layers and images, deployed through the public API as an attacker would, then
the host checked from outside: a victim directory in a fresh temporary directory is unchanged,
nothing was created next to the server's code directory, and a neighbour function still answers.

Every escape is aimed at temporary directories: at the victim (a link planted there, a file
removed from it) and at the server's own temporary data directory. On a vulnerable build the
attacks change nothing but those; on a safe one they are refused (or stay inside) and the
checks pass."""

import io
import json
import os
import stat
import subprocess
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

import botocore.exceptions
import pytest
from conftest import ROLE, RUNTIMES_DIR, Server, archfn_bin, make_zip, unique
from test_images import REGISTRY, image_config, oci_archive

RUNTIME, ARCH = "python3.11", "x86_64"


@pytest.fixture(scope="module")
def python_runtime():
    subprocess.run([archfn_bin(), "runtime", "install", RUNTIME, "--arch", ARCH, "--runtimes-dir", str(RUNTIMES_DIR)],
                   check=True, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def place():
    """The server's temporary directory (its data directory inside)."""
    with tempfile.TemporaryDirectory(prefix="archfn-hostile-") as top:
        yield Path(top)


@pytest.fixture
def victim():
    """A fresh victim directory for each attack, in /tmp beside the server's: `file`, and
    `dir/inner`."""
    with tempfile.TemporaryDirectory(prefix="archfn-victim-") as d:
        d = Path(d)
        (d / "dir").mkdir()
        (d / "file").write_text("precious")
        (d / "dir" / "inner").write_text("precious too")
        yield d


@pytest.fixture(scope="module")
def server(place, python_runtime):
    s = Server(place / "data").start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def lam(server):
    return server.client()


def tree(root: Path) -> dict:
    """Every entry under `root`, with its kind and content."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            if p.is_symlink():
                seen[str(p)] = "link " + os.readlink(p)
            elif p.is_dir():
                seen[str(p)] = "dir"
            else:
                seen[str(p)] = "file " + p.read_bytes().hex()[:64]
    return seen


class Host:
    """What the host looks like around the server's code: the victim directory, everything in the
    server's temporary directory but the data directory's own contents, and the names directly in
    the code and merged-layer directories."""

    def __init__(self, top, victim, server):
        self.top, self.victim = top, victim
        self.data = server.data_dir

    def snapshot(self):
        code = self.data / "code"
        opt = self.data / "engine" / "opt"
        return {
            "victim": tree(self.victim),
            "beside the data directory": sorted(p.name for p in self.top.iterdir()),
            "in the data directory": sorted(p.name for p in self.data.iterdir()),
            "in code/": sorted(p.name for p in code.iterdir()) if code.is_dir() else [],
            "in engine/": sorted(p.name for p in (self.data / "engine").iterdir()) if (self.data / "engine").is_dir() else [],
            "in engine/opt/": sorted(p.name for p in opt.iterdir()) if opt.is_dir() else [],
        }

    def assert_unchanged(self, before, allowed_new=()):
        """Nothing changed but new entries of the allowed places (a code or merged-layer directory
        named by digest, what a legitimate deployment adds)."""
        after = self.snapshot()
        assert (self.victim / "file").read_text() == "precious"
        assert (self.victim / "dir" / "inner").read_text() == "precious too"
        for key in after:
            if key in allowed_new:
                missing = set(before[key]) - set(after[key])
                assert not missing, f"{key}: {missing} removed"
                odd = [n for n in set(after[key]) - set(before[key]) if not legitimate(n)]
                assert not odd, f"{key}: {odd} created"
            else:
                assert after[key] == before[key], key


# What the server itself adds to its data and engine directories as it goes.
SERVER_OWN = {"images", "opt", "logs", "runtime", "blobs", "code", "engine"}


def legitimate(name: str) -> bool:
    """A code directory (`<sha256>`, `image-<sha256>`), a merged-layer one (`<digest>+<digest>`), or
    one of the server's own directories."""
    if name in SERVER_OWN:
        return True
    parts = name.removeprefix("image-").split("+")
    return all(len(p) == 64 and all(c in "0123456789abcdef" for c in p) for p in parts)


ALLOWED = ("in code/", "in engine/opt/", "in engine/", "in the data directory")


@pytest.fixture
def host(place, victim, server):
    return Host(place, victim, server)


def symlink(name, target):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def zip_of(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info, data in entries:
            if isinstance(info, str):
                info = zipfile.ZipInfo(info)
            z.writestr(info, data)
    return buf.getvalue()


def climb(levels: int, prefix: str):
    """Links that pass a check of each target as text and still climb `levels` directories above the
    directory they are unpacked into, once on disk: `prefix/x -> .`, then `prefix/u1 -> x/..`,
    `prefix/u2 -> u1/..`, … Returns the entries and the last link's name."""
    entries = [symlink(f"{prefix}/x", ".")]
    last = "x"
    for n in range(1, levels + 1):
        entries.append(symlink(f"{prefix}/u{n}", f"{last}/.."))
        last = f"u{n}"
    return entries, f"{prefix}/{last}"


HANDLER = """
import os
def handler(event, context):
    found = []
    for d, dirs, files in os.walk('/opt'):
        found += [os.path.join(d, f) for f in files]
    extra = {}
    if os.path.isfile('/opt/lib/file.txt'):
        extra['file'] = open('/opt/lib/file.txt').read()
    return {'ok': True, 'opt': sorted(found), **extra}
"""


def create_and_wait(lam, **kw):
    name = unique("hostile")
    lam.create_function(FunctionName=name, Role=ROLE, **kw)
    deadline = time.time() + 60
    while time.time() < deadline:
        c = lam.get_function_configuration(FunctionName=name)
        if c["State"] != "Pending":
            return name, c
        time.sleep(0.1)
    raise AssertionError(f"{name} still Pending")


def invoke(lam, name):
    r = lam.invoke(FunctionName=name, Payload=b"{}")
    body = json.loads(r["Payload"].read())
    assert "FunctionError" not in r, body
    return body


@pytest.fixture(scope="module")
def neighbour(lam):
    """A normal function, created and invoked before the attacks."""
    name, c = create_and_wait(lam, Runtime=RUNTIME, Architectures=[ARCH], Handler="lambda_function.handler",
                              Code={"ZipFile": make_zip({"lambda_function.py": HANDLER})})
    assert c["State"] == "Active", c
    assert invoke(lam, name)["ok"] is True
    return name


def deploy_zip(lam, entries):
    """CreateFunction with a zip of `entries`: the error code and message of its refusal, or the
    function's state and reason once prepared (the host is checked either way)."""
    try:
        _, c = create_and_wait(lam, Runtime=RUNTIME, Handler="lambda_function.handler",
                               Code={"ZipFile": zip_of(entries)})
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    return c["State"], c.get("StateReason", "")


def test_symlink_chain_zip_is_refused(server, lam, host, neighbour):
    """`a/l -> ..`, then `a/l/m -> ..` and so on: each link's target stays inside when read as text,
    but extracting one entry through the links before it climbs a directory each time, up to
    /tmp, where the last entries would plant a link and a directory in the victim directory."""
    before = host.snapshot()
    # From <data>/code/.tmp-<id>/: .tmp-<id> (a/l), code, data, the server's directory, /tmp.
    names = ["a", "l", "m", "n", "o", "p"]
    entries = [("lambda_function.py", "def handler(e, c):\n    return 1\n")]
    for depth in range(2, len(names) + 1):
        entries.append(symlink("/".join(names[:depth]), ".."))
    through = "/".join(names) + "/" + host.victim.name
    entries += [symlink(f"{through}/planted", "x"), symlink(f"{through}/newdir/deeper", "x")]
    code, message = deploy_zip(lam, entries)
    host.assert_unchanged(before, ALLOWED)
    assert code == "InvalidParameterValueException"
    assert message.startswith("Could not unzip uploaded file.") and "symlink" in message, message


def test_link_to_link_zip_is_refused(server, lam, host, neighbour):
    """Links through the archive's other links (`x -> .`, `u1 -> x/..`, …, `l -> uN/<victim>`), then
    entries through the last one."""
    before = host.snapshot()
    entries, top = climb(5, "d")
    entries.append(symlink("d/l", f"{top.split('/')[-1]}/{host.victim.name}"))
    entries += [symlink("d/l/planted", "x"), ("lambda_function.py", "x = 1\n")]
    code, message = deploy_zip(lam, entries)
    host.assert_unchanged(before, ALLOWED)
    assert code == "InvalidParameterValueException" and "symlink" in message, message


def test_two_layers_never_write_outside(server, lam, host, neighbour):
    """Layer 1's `lib` names the victim directory through links that look inside (or, when that
    layer is refused, plainly names a directory of its own); layer 2 holds `lib/file.txt`. A
    function using both is invoked, which merges the layers into its /opt."""
    before = host.snapshot()
    entries, top = climb(6, "python")
    entries.append(symlink("lib", f"{top}/{host.victim.name}"))
    try:
        hostile = lam.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": zip_of(entries)})
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidParameterValueException"
        assert "symlink" in e.response["Error"]["Message"]
        hostile = None
    # A layer 1 that inspection lets through: `lib` is a link to a directory of its own.
    benign = lam.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": zip_of(
        [("sub/keep.txt", "kept"), symlink("lib", "sub")])})
    second = lam.publish_layer_version(LayerName=unique("layer"), Content={"ZipFile": zip_of(
        [("lib/file.txt", "from layer 2"), ("lib/planted.txt", "planted")])})
    firsts = [l for l in (hostile, benign) if l]
    for first in firsts:
        name, c = create_and_wait(lam, Runtime=RUNTIME, Architectures=[ARCH], Handler="lambda_function.handler",
                                  Code={"ZipFile": make_zip({"lambda_function.py": HANDLER})},
                                  Layers=[first["LayerVersionArn"], second["LayerVersionArn"]])
        assert c["State"] == "Active", c
        body = invoke(lam, name)
        host.assert_unchanged(before, ALLOWED)
        assert body.get("file") == "from layer 2" and "/opt/lib/planted.txt" in body["opt"], body
    assert hostile is None, "the layer whose link climbs out through its other links is refused"


def wait_failed(lam, name):
    deadline = time.time() + 60
    while time.time() < deadline:
        c = lam.get_function_configuration(FunctionName=name)
        if c["State"] != "Pending":
            return c
        time.sleep(0.1)
    raise AssertionError(f"{name} still Pending")


def import_oci(server, layers, tag):
    config = image_config("amd64", ["/bin/true"], ["x"], layers)
    path = Path(tempfile.mkdtemp(prefix="archfn-image-")) / "image.tar"
    path.write_bytes(oci_archive([(config, layers)]))
    subprocess.run([archfn_bin(), "image", "import", str(path), "--tag", tag, "--data-dir", str(server.data_dir)],
                   check=True, capture_output=True, text=True)
    return f"{REGISTRY}/{tag}"


def raw_layer(entries) -> bytes:
    """A layer of (name, kind, target or data) written as given: symlinks, hard links, whiteouts."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, value
                t.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, value
                t.addfile(info)
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            else:
                info.size = len(value)
                t.addfile(info, io.BytesIO(value))
    return buf.getvalue()


@pytest.mark.parametrize("case,layers,reason", [
    ("whiteouts through a symlink", lambda v: [
        raw_layer([("etc/", "dir", ""), ("etc/x", "file", b"1"), ("l", "link", str(v))]),
        raw_layer([("l/.wh.file", "file", b""), ("l/dir/.wh.inner", "file", b""), ("l/dir/.wh..wh..opq", "file", b"")]),
    ], "not a directory"),
    ("an opaque whiteout through a symlink", lambda v: [
        raw_layer([("l", "link", str(v))]),
        raw_layer([("l/dir/.wh..wh..opq", "file", b"")]),
    ], "not a directory"),
    ("a whiteout of ..", lambda v: [raw_layer([("etc/x", "file", b"1")]), raw_layer([(".wh...", "file", b"")])], "whiteout"),
    ("a whiteout of .", lambda v: [raw_layer([("etc/x", "file", b"1"), (".wh..", "file", b"")])], "whiteout"),
    ("a hard link to a victim file", lambda v: [raw_layer([("stolen", "hard", str(v / "file"))])], "hard link"),
    ("a hard link through a symlink", lambda v: [
        raw_layer([("l", "link", str(v))]),
        raw_layer([("stolen", "hard", "l/file")]),
    ], "hard link"),
    ("a name climbing out", lambda v: [raw_layer([("../../../../" + v.name + "/planted", "file", b"x")])], "outside the image root"),
])
def test_hostile_image_fails_to_prepare(server, lam, host, neighbour, case, layers, reason):
    """An image whose layers would delete or write through a symlink, delete `..`, or hard-link
    outside: the function ends Failed, naming the layer; the host is as it was."""
    before = host.snapshot()
    built = layers(host.victim)
    uri = import_oci(server, built, f"{unique('hostile').lower()}:v1")
    name = unique("img")
    lam.create_function(FunctionName=name, Role=ROLE, PackageType="Image", Code={"ImageUri": uri}, Architectures=[ARCH])
    c = wait_failed(lam, name)
    host.assert_unchanged(before, ALLOWED)
    assert c["State"] == "Failed", (case, c)
    assert reason in c["StateReason"] and "layer sha256:" in c["StateReason"], (case, c["StateReason"])


def test_neighbour_still_works(server, lam, host, neighbour):
    """After every attack, the function deployed before them still answers, from a new execution
    environment too (a configuration change starts one), so its code directory is still there."""
    assert invoke(lam, neighbour)["ok"] is True
    lam.update_function_configuration(FunctionName=neighbour, Description="after the attacks")
    lam.get_waiter("function_updated_v2").wait(FunctionName=neighbour, WaiterConfig={"Delay": 0.1, "MaxAttempts": 200})
    assert invoke(lam, neighbour)["ok"] is True
    assert (host.victim / "file").read_text() == "precious"
