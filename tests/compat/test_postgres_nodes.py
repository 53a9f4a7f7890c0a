"""Two `archfn serve` nodes on one PostgreSQL database (ARCHFN_TEST_STORE=postgres://…; skipped
without it): what one node writes, the other reads at once, its cache emptied by the database's
notification; layer versions published on both at once get distinct numbers."""

import tempfile
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import TEST_STORE, Server, create, make_zip, postgres_database, wait_updated

pytestmark = pytest.mark.skipif(not TEST_STORE.startswith("postgres"), reason="needs ARCHFN_TEST_STORE=postgres://…")


@pytest.fixture(scope="module")
def nodes(runtimes):
    with tempfile.TemporaryDirectory(prefix="archfn-nodes-") as d:
        url = postgres_database(Path(d) / "shared")
        a = Server(Path(d) / "a", ["--store", url]).start()
        b = Server(Path(d) / "b", ["--store", url]).start()
        yield a.client(), b.client()
        a.stop()
        b.stop()


def eventually(read, expected, seconds=5.0):
    """`read()` until it answers `expected` (another node's write reaches this node's cache by
    a notification); the last answer."""
    deadline = time.time() + seconds
    got = read()
    while got != expected and time.time() < deadline:
        time.sleep(0.02)
        got = read()
    return got


def test_a_write_on_one_node_is_read_on_the_other(nodes):
    a, b = nodes
    name, _ = create(a)
    a.publish_version(FunctionName=name)
    a.update_function_configuration(FunctionName=name, Description="changed")
    wait_updated(a, name)
    assert a.publish_version(FunctionName=name)["Version"] == "2"
    assert b.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    a.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert a.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"  # cached on a
    b.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert eventually(lambda: a.get_alias(FunctionName=name, Name="live")["FunctionVersion"], "2") == "2"

    assert "ReservedConcurrentExecutions" not in a.get_function_concurrency(FunctionName=name)
    b.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    got = eventually(lambda: a.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions"), 7)
    assert got == 7

    # Etags are shared: a's alias read is stale after b's update, so a's conditional write fails.
    stale = a.get_alias(FunctionName=name, Name="live")["RevisionId"]
    b.update_alias(FunctionName=name, Name="live", Description="from b")
    with pytest.raises(ClientError) as e:
        a.update_alias(FunctionName=name, Name="live", FunctionVersion="1", RevisionId=stale)
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"

    b.delete_function(FunctionName=name)

    def gone():
        try:
            a.get_function(FunctionName=name)
            return False
        except ClientError as err:
            return err.response["Error"]["Code"] == "ResourceNotFoundException"

    assert eventually(gone, True)


def test_layer_versions_published_on_both_nodes_are_distinct(nodes):
    a, b = nodes
    zip_bytes = make_zip({"python/m.py": "X = 1\n"})
    numbers, errors = [], []

    def publish(client):
        try:
            for _ in range(4):
                r = client.publish_layer_version(LayerName="shared-layer", Content={"ZipFile": zip_bytes})
                numbers.append(r["Version"])
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=publish, args=(c,)) for c in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(numbers) == list(range(1, 17))
    listed = [v["Version"] for v in b.list_layer_versions(LayerName="shared-layer")["LayerVersions"]]
    assert sorted(listed) == list(range(1, 17))
