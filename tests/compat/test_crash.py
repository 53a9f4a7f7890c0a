"""Durability: SIGKILL the server while clients write; after restart every acknowledged write is there."""

import base64
import hashlib
import os
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import botocore.exceptions

from conftest import ROLE, Server, make_zip


def writer(server, wid, acked, stop):
    lam = server.client()
    i = 0
    while not stop.is_set():
        i += 1
        name = f"crash-{wid}-{i}"
        z = make_zip({"lambda_function.py": f"# {os.urandom(16).hex()}\ndef handler(e, c):\n    return {i}\n"})
        arch = "arm64" if i % 2 else "x86_64"
        try:
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="lambda_function.handler",
                                Code={"ZipFile": z}, Architectures=[arch])
            acked.append(("function", name, z, arch))
            lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400})
            v = lam.publish_version(FunctionName=name)
            acked.append(("version", name, v["Version"], arch))
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v["Version"])
            acked.append(("alias", name, "live", v["Version"]))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, ConnectionError):
            if stop.is_set():
                return
            time.sleep(0.01)


def check_all(server, acked):
    lam = server.client()
    for kind, name, a, b in acked:
        if kind == "function":
            got = lam.get_function(FunctionName=name)
            conf = got["Configuration"]
            assert conf["CodeSha256"] == base64.b64encode(hashlib.sha256(a).digest()).decode(), name
            assert conf["Architectures"] == [b]
            with urllib.request.urlopen(got["Code"]["Location"]) as r:
                assert r.read() == a, f"code of {name} is not byte-identical"
        elif kind == "version":
            assert lam.get_function_configuration(FunctionName=name, Qualifier=a)["Architectures"] == [b]
        else:
            assert lam.get_alias(FunctionName=name, Name=a)["FunctionVersion"] == b


def test_sigkill_loses_no_acknowledged_write():
    with tempfile.TemporaryDirectory(prefix="archfn-crash-") as d:
        data = Path(d) / "data"
        acked = []
        for round_ in range(3):
            server = Server(data).start()
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(server, f"{round_}-{w}", acked, stop)) for w in range(8)]
            for t in threads:
                t.start()
            time.sleep(2.0)
            server.kill()  # SIGKILL, mid-write
            stop.set()
            for t in threads:
                t.join(timeout=60)
            assert not any(t.is_alive() for t in threads)
        server = Server(data).start()
        try:
            counts = {k: sum(1 for kind, *_ in acked if kind == k) for k in ("function", "version", "alias")}
            print("acknowledged before the kills:", counts)
            assert counts["function"] >= 20, "the writers made too little progress to test anything"
            check_all(server, acked)
            # Preparations cut short by the kill are resumed: every function becomes Active.
            lam = server.client()
            for kind, name, *_ in acked:
                if kind == "function":
                    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
        finally:
            server.stop()
