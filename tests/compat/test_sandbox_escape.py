"""Function code is untrusted: attacks from inside a function, checked from the host.

Each test deploys a function written to attack through the public API, on both ISAs where the
ISA matters (an arm64 function runs under QEMU here, whose system calls are the host's), then
looks at the host itself: its kernel settings, the uid the function's processes have, what the
function reached. The attacks write back the value they just read, and aim at servers the test
itself starts, so that on a vulnerable build they change nothing harmful, yet fail the test.
"""

import json
import os
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import create, make_zip, server_fixture, unique

ARCHES = ["x86_64", "arm64"]

lam = server_fixture()
lam_offline = server_fixture("--function-network", "none")


def invoke(client, name, event=None):
    r = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    body = r["Payload"].read()
    assert "FunctionError" not in r, body
    return json.loads(body)


def python_function(client, code, arch="x86_64", **kw):
    name, _ = create(client, arch=arch, runtime="python3.11", zip_bytes=make_zip({"lambda_function.py": code}),
                     Timeout=kw.pop("Timeout", 30), **kw)
    return name


KERNEL_WRITES = r'''
import os

def try_write(path):
    try:
        with open(path) as f:
            value = f.read()
    except OSError as e:
        return "unreadable: " + repr(e)
    try:
        with open(path, "w") as f:
            f.write(value)
        return "WRITTEN"
    except OSError as e:
        return repr(e)

def handler(event, context):
    out = {p: try_write(p) for p in event["paths"]}
    out["uid"] = os.getuid()
    out["gid"] = os.getgid()
    return out
'''

KERNEL_FILES = [
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/hostname",
    "/proc/sys/vm/swappiness",
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/fs/binfmt_misc/status",
    "/proc/sysrq-trigger",
]


@pytest.mark.parametrize("arch", ARCHES)
def test_kernel_settings_and_binfmt_misc_cannot_be_written(lam, arch):
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    name = python_function(lam, KERNEL_WRITES, arch)
    paths = KERNEL_FILES + ["/proc/sys/fs/binfmt_misc/archfn-refuse"]
    out = invoke(lam, name, {"paths": paths})
    written = [p for p in paths if out[p] == "WRITTEN"]
    assert written == [], out
    # The function is Lambda's sandbox user inside its namespace.
    assert (out["uid"], out["gid"]) == (993, 990)
    assert Path("/proc/sys/kernel/core_pattern").read_text() == before


CORE_PATTERN_ATTACK = r'''
import os, signal

def handler(event, context):
    # The classic escape: pipe core dumps to a script of the function's own, then crash.
    try:
        with open("/proc/sys/kernel/core_pattern", "w") as f:
            f.write("|/var/task/payload.sh")
        wrote = True
    except OSError as e:
        wrote = repr(e)
    pid = os.fork()
    if pid == 0:
        os.kill(os.getpid(), signal.SIGSEGV)
    os.waitpid(pid, 0)
    return {"wrote": wrote}
'''


def test_core_pattern_escape_does_not_reach_the_host(lam, tmp_path):
    marker = tmp_path / "escaped"
    payload = f"#!/bin/sh\ntouch {marker}\n"
    before = Path("/proc/sys/kernel/core_pattern").read_text()
    name, _ = create(lam, runtime="python3.11", Timeout=30,
                     zip_bytes=make_zip({"lambda_function.py": CORE_PATTERN_ATTACK, "payload.sh": payload},
                                        executable=True))
    try:
        out = invoke(lam, name)
        assert out["wrote"] is not True, out
        time.sleep(0.5)
        assert not marker.exists(), "a script of the function ran on the host"
    finally:
        # Should a vulnerable build have changed it, put the host back as it was.
        if Path("/proc/sys/kernel/core_pattern").read_text() != before:
            Path("/proc/sys/kernel/core_pattern").write_text(before)


SECCOMP_PROBE = r'''
import ctypes, os, subprocess

libc = ctypes.CDLL(None, use_errno=True)

def errno_of(rc):
    return 0 if rc == 0 else ctypes.get_errno()

def handler(event, context):
    out = {}
    out["unshare_user"] = errno_of(libc.unshare(0x10000000))
    out["unshare_net"] = errno_of(libc.unshare(0x40000000))
    out["mount"] = errno_of(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
    # keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): the keyring is not namespaced.
    out["keyctl"] = errno_of(libc.syscall(event["keyctl"], 1, None))
    out["nofile"] = list(__import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE))
    out["nproc"] = list(__import__("resource").getrlimit(__import__("resource").RLIMIT_NPROC))
    status = open("/proc/self/status").read()
    out["caps"] = [l for l in status.splitlines() if l.startswith(("CapEff", "CapBnd", "NoNewPrivs", "Seccomp:"))]
    return out
'''


@pytest.mark.parametrize("arch", ARCHES)
def test_namespaces_mounts_and_keyrings_are_refused(lam, arch):
    name = python_function(lam, SECCOMP_PROBE, arch)
    # The host's numbers: QEMU makes the host's system calls for an emulated function, but the
    # guest's libc asks with the guest's numbers (keyctl: 250 on x86_64, 219 on arm64).
    out = invoke(lam, name, {"keyctl": 219 if arch == "arm64" else 250})
    assert out["unshare_user"] != 0 and out["unshare_net"] != 0, out
    assert out["mount"] != 0 and out["keyctl"] != 0, out
    assert out["nofile"] == [1024, 1024]
    assert out["nproc"] == [1024, 1024]
    caps = dict(line.split(":\t") for line in out["caps"])
    assert caps["CapEff"] == "0000000000000000" and caps["CapBnd"] == "0000000000000000", caps
    assert caps["NoNewPrivs"] == "1" and caps["Seccomp"] == "2", caps


OPEN_FILES = r'''
import os

def handler(event, context):
    fds = []
    try:
        while len(fds) < 5000:
            fds.append(os.open("/var/task/lambda_function.py", os.O_RDONLY))
        return {"opened": len(fds), "error": None}
    except OSError as e:
        return {"opened": len(fds), "error": e.errno, "highest": max(fds)}
    finally:
        for fd in fds:
            os.close(fd)
'''


def test_the_1025th_file_cannot_be_opened(lam):
    name = python_function(lam, OPEN_FILES)
    out = invoke(lam, name)
    assert out["error"] == 24, out  # EMFILE
    assert out["highest"] == 1023, out


UID_PROBE = r'''
import time

def handler(event, context):
    time.sleep(event["sleep"])
    return "ok"
'''


def host_processes_of(function_name):
    """(pid, uid) of the host's processes whose environment names the function."""
    found = []
    marker = f"AWS_LAMBDA_FUNCTION_NAME={function_name}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            uid = next(int(l.split()[1]) for l in (entry / "status").read_text().splitlines() if l.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        found.append((int(entry.name), uid))
    return found


@pytest.mark.parametrize("arch", ARCHES)
def test_function_processes_are_not_host_root(lam, arch):
    name = python_function(lam, UID_PROBE, arch)
    done = threading.Event()
    seen = []

    def watch():
        while not done.is_set():
            seen.extend(host_processes_of(name))
            time.sleep(0.05)

    t = threading.Thread(target=watch)
    t.start()
    try:
        assert invoke(lam, name, {"sleep": 1.5}) == "ok"
    finally:
        done.set()
        t.join()
    assert seen, "the function's processes were not found on the host"
    uids = {uid for _, uid in seen}
    assert 0 not in uids, seen
    assert all(uid >= 1_000_000 for uid in uids), f"not in the sandbox range: {uids}"


CONNECT = r'''
import socket

def handler(event, context):
    out = {}
    for label, host, port in event["targets"]:
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, port))
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            out[label] = "REACHED " + s.recv(64).decode(errors="replace")
        except OSError as e:
            out[label] = repr(e)
        finally:
            s.close()
    return out
'''


class Listener:
    """A TCP server on the host that answers every connection with a marker."""

    def __init__(self, host):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhost-secret")
            c.close()

    def close(self):
        self.sock.close()


def host_address():
    """An address of the host's own besides loopback (that of its default route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the route
        return s.getsockname()[0]


@pytest.mark.parametrize("arch", ARCHES)
def test_the_host_and_its_loopback_are_unreachable(lam, server_port_of, arch):
    loopback = Listener("127.0.0.1")
    anywhere = Listener("0.0.0.0")
    try:
        name = python_function(lam, CONNECT, arch)
        targets = [
            ["control_api", "127.0.0.1", server_port_of(lam)],
            ["host_loopback", "127.0.0.1", loopback.port],
            ["host_address", host_address(), anywhere.port],
            ["host_loopback_other", "127.0.0.2", anywhere.port],
        ]
        out = invoke(lam, name, {"targets": targets})
        assert not any(v.startswith("REACHED") for v in out.values()), out
        assert loopback.hits == 0 and anywhere.hits == 0
    finally:
        loopback.close()
        anywhere.close()


@pytest.fixture(scope="module")
def server_port_of():
    def port(client):
        return int(client.meta.endpoint_url.rsplit(":", 1)[1])
    return port


RUNTIME_API_THIEF = r'''
import time, urllib.request

def handler(event, context):
    # Take invocations from the address another environment was given.
    stolen, deadline = 0, time.time() + event["seconds"]
    while time.time() < deadline:
        try:
            url = "http://" + event["address"] + "/2018-06-01/runtime/invocation/next"
            with urllib.request.urlopen(url, timeout=0.2) as r:
                rid = r.headers.get("Lambda-Runtime-Aws-Request-Id")
                if rid and rid != context.aws_request_id:
                    stolen += 1
        except Exception:
            pass
    return {"stolen": stolen}
'''

VICTIM = r'''
import os

def handler(event, context):
    return {"api": os.environ["AWS_LAMBDA_RUNTIME_API"], "n": event.get("n")}
'''


def test_an_environment_keeps_its_invocations_while_another_hammers_its_address(lam):
    victim = python_function(lam, VICTIM)
    thief = python_function(lam, RUNTIME_API_THIEF, Timeout=60)
    address = invoke(lam, victim, {"n": 0})["api"]
    assert address == "127.0.0.1:9001"
    result = {}
    t = threading.Thread(target=lambda: result.update(invoke(lam, thief, {"address": address, "seconds": 4})))
    t.start()
    try:
        time.sleep(0.5)
        for n in range(1, 21):
            assert invoke(lam, victim, {"n": n}) == {"api": address, "n": n}
    finally:
        t.join()
    assert result.get("stolen") == 0, result


BACKGROUND = r'''
import os, subprocess, time

def handler(event, context):
    if event["step"] == "start":
        subprocess.Popen(["/bin/sh", "-c", "while true; do date +%s.%N >> /tmp/ticks; sleep 0.05; done"],
                         start_new_session=True)
        # Until the first tick (an emulated shell takes a while to start).
        while not os.path.exists("/tmp/ticks"):
            time.sleep(0.05)
        time.sleep(0.2)
        return {"at": time.time()}
    ticks = [float(t) for t in open("/tmp/ticks").read().split()]
    return {"at": time.time(), "ticks": ticks}
'''


@pytest.mark.parametrize("arch", ARCHES)
def test_background_processes_do_not_run_between_invocations(lam, arch):
    name = python_function(lam, BACKGROUND, arch)
    first = invoke(lam, name, {"step": "start"})
    time.sleep(2)
    second = invoke(lam, name, {"step": "read"})
    ticks = second["ticks"]
    assert any(t < first["at"] for t in ticks), "the background process never ran"
    # Between the end of the first invocation (plus the time to answer) and the start of the
    # second, nothing ran.
    gap = [t for t in ticks if first["at"] + 0.25 < t < second["at"] - 0.25]
    assert gap == [], f"{len(gap)} ticks while the environment should have been frozen"


def test_a_fork_bomb_leaves_other_functions_answering(lam):
    bomb = python_function(lam, r'''
import os, time

def handler(event, context):
    children = 0
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            children += 1
        except OSError:
            time.sleep(0.01)
    return children
''', Timeout=5)
    bystander = python_function(lam, VICTIM)
    invoke(lam, bystander, {"n": 0})
    t = threading.Thread(target=lambda: lam.invoke(FunctionName=bomb, Payload=b"{}"))
    t.start()
    try:
        time.sleep(1)
        for n in range(5):
            started = time.time()
            assert invoke(lam, bystander, {"n": n})["n"] == n
            assert time.time() - started < 5
    finally:
        t.join()


@pytest.fixture(scope="module")
def peer_host():
    """A test host in a network namespace of the test's own, linked to this host by a veth pair:
    a "public" server at 198.51.100.2 (TEST-NET-2) and a private one at 10.199.0.2, both on port
    8080. Torn down afterwards."""
    tag = uuid.uuid4().hex[:6]
    ns, host_if, peer_if = f"archfn-peer-{tag}", f"afh{tag}", f"afp{tag}"

    def sh(*cmd):
        subprocess.run(cmd, check=True, capture_output=True)

    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        sh("ip", "link", "set", peer_if, "netns", ns)
        sh("ip", "addr", "add", "198.51.100.1/24", "dev", host_if)
        sh("ip", "addr", "add", "10.199.0.1/24", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "-n", ns, "addr", "add", "198.51.100.2/24", "dev", peer_if)
        sh("ip", "-n", ns, "addr", "add", "10.199.0.2/24", "dev", peer_if)
        sh("ip", "-n", ns, "link", "set", peer_if, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        server = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c",
                                   "import http.server\n"
                                   "class H(http.server.BaseHTTPRequestHandler):\n"
                                   "    def do_GET(self):\n"
                                   "        self.send_response(200); self.end_headers(); self.wfile.write(b'peer')\n"
                                   "http.server.ThreadingHTTPServer(('0.0.0.0', 8080), H).serve_forever()\n"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("198.51.100.2", 8080), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        yield {"public": "198.51.100.2", "private": "10.199.0.2"}
        server.kill()
        server.wait()
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.mark.parametrize("arch", ARCHES)
def test_outbound_reaches_the_internet_but_not_private_ranges(lam, peer_host, arch):
    name = python_function(lam, CONNECT, arch)
    out = invoke(lam, name, {"targets": [["public", peer_host["public"], 8080],
                                         ["private", peer_host["private"], 8080]]})
    assert out["public"].startswith("REACHED HTTP/1.0 200"), out
    assert not out["private"].startswith("REACHED"), out


def test_no_network_reaches_nothing(lam_offline, peer_host):
    name = python_function(lam_offline, CONNECT)
    out = invoke(lam_offline, name, {"targets": [["public", peer_host["public"], 8080]]})
    assert not out["public"].startswith("REACHED"), out


TMP_WRITER = r'''
import os

def handler(event, context):
    chunk = b"\0" * (1 << 20)
    written = 0
    try:
        with open("/tmp/big", "wb") as f:
            for _ in range(event["mb"]):
                f.write(chunk)
                written += 1
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return {"written_mb": written, "error": e.errno}
    finally:
        st = os.statvfs("/tmp")
        size_mb = st.f_blocks * st.f_frsize >> 20
    os.remove("/tmp/big")
    return {"written_mb": written, "error": None, "tmp_mb": size_mb}
'''


def test_tmp_is_storage_of_its_own_not_memory(lam):
    # 400 MB through a 128 MB function: /tmp is not charged to MemorySize.
    name = python_function(lam, TMP_WRITER, MemorySize=128, EphemeralStorage={"Size": 512})
    out = invoke(lam, name, {"mb": 400})
    assert out["written_mb"] == 400 and out["error"] is None, out
    assert 480 <= out["tmp_mb"] <= 512, out
    # And the size is EphemeralStorage's: past it, the disk is full (ENOSPC).
    out = invoke(lam, name, {"mb": 600})
    assert out["error"] == 28 and 480 <= out["written_mb"] < 512, out


budgeted = server_fixture("--max-environment-memory", "512")


SLEEPER = r'''
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return "slept"
'''


def test_the_host_budget_throttles_cold_starts(budgeted):
    # Two environments of 256 MB fill a budget of 512 MB; a third cold start is throttled while
    # both are busy, and runs once one of them is idle (it is ended to make room).
    names = [python_function(budgeted, SLEEPER, MemorySize=256) for _ in range(3)]
    threads = [threading.Thread(target=invoke, args=(budgeted, n, {"sleep": 3})) for n in names[:2]]
    for t in threads:
        t.start()
    time.sleep(1.5)
    try:
        with pytest.raises(budgeted.exceptions.TooManyRequestsException) as e:
            budgeted.invoke(FunctionName=names[2], Payload=b"{}")
        assert e.value.response["Error"]["Message"] == "Rate Exceeded."
        assert e.value.response["Reason"] == "ConcurrentInvocationLimitExceeded"
    finally:
        for t in threads:
            t.join()
    assert invoke(budgeted, names[2]) == "slept"


CPU_BURNER = r'''
import time

def handler(event, context):
    wall0, cpu0 = time.time(), time.process_time()
    while time.time() - wall0 < event["seconds"]:
        sum(range(1000))
    return (time.process_time() - cpu0) / (time.time() - wall0)
'''


def test_cpu_follows_memory_as_on_lambda(lam):
    # 1,769 MB is one core: 256 MB gets about a seventh of one (0.145), 3,538 MB two (of which a
    # single-threaded loop can use one, as much as the machine's other work leaves it).
    small = python_function(lam, CPU_BURNER, MemorySize=256)
    large = python_function(lam, CPU_BURNER, MemorySize=3538)
    small_share = invoke(lam, small, {"seconds": 1.5})
    large_share = invoke(lam, large, {"seconds": 1.5})
    assert small_share < 0.2, small_share
    assert large_share > 2.5 * small_share, (small_share, large_share)


def test_a_killed_server_leaves_nothing_running_after_its_restart(runtimes, tmp_path):
    # Idle environments are frozen, so the kill bubblewrap's parent-death signal sends them waits
    # for a thaw: a server killed with SIGKILL leaves them (and its pasta links) behind. The next
    # server on the same data directory ends them; one stopped with SIGTERM ends its own.
    from conftest import Server

    data = tmp_path / "data"
    server = Server(data).start()
    client = server.client()
    name = python_function(client, VICTIM)
    invoke(client, name, {"n": 1})
    time.sleep(0.3)  # idle long enough to be frozen
    links = lambda: sorted(p.name for p in (data / "engine" / "links").glob("*.pid"))
    assert links(), "no pasta pid files"
    server.kill()
    time.sleep(0.5)
    assert host_processes_of(name), "the frozen environment did not outlive its server (test premise)"
    server = Server(data).start()
    try:
        deadline = time.time() + 10
        while host_processes_of(name) and time.time() < deadline:
            time.sleep(0.1)
        assert not host_processes_of(name), "the killed server's environment still runs"
        invoke(server.client(), name, {"n": 2})
    finally:
        server.stop()
    # A server stopped with SIGTERM ends its environments, and its pasta links, itself.
    assert not host_processes_of(name)
    assert links() == [], links()


INHERITED = r'''
import os

def handler(event, context):
    seen = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            seen.append(os.readlink("/proc/self/fd/" + fd))
        except OSError:
            pass
    return seen
'''


def test_descriptors_the_server_inherited_reach_no_child(tmp_path, runtimes):
    """A descriptor archfn's parent left open (a lock, a secret file) reaches neither a function
    nor a helper archfn starts (pasta), which could outlive the server holding it."""
    from conftest import Server
    secret = tmp_path / "inherited-secret"
    secret.write_text("parent's")
    fd = os.open(secret, os.O_RDONLY)
    os.set_inheritable(fd, True)
    s = Server(tmp_path / "data", pass_fds=[fd])
    try:
        s.start()
        os.close(fd)
        client = s.client()
        name = python_function(client, INHERITED)
        seen = invoke(client, name)
        assert str(secret) not in seen, seen
        holders = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) in (os.getpid(), s.proc.pid):
                continue
            try:
                links = [os.readlink(f"/proc/{pid}/fd/{f}") for f in os.listdir(f"/proc/{pid}/fd")]
            except OSError:
                continue
            if str(secret) in links:
                holders.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:120])
        assert holders == [], holders
    finally:
        s.stop()

