"""Layers: publishing, numbering, compatible-list labels and filters, attaching to functions."""

import urllib.request

import botocore.exceptions
import pytest

from conftest import create, make_zip, unique, wait_updated


def error_of(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def publish(lam, name, **kw):
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip({"python/util.py": "X = 1\n"})}, **kw)


def test_publish_and_get(lam):
    name = unique("layer")
    r = publish(lam, name, CompatibleArchitectures=["arm64"], CompatibleRuntimes=["python3.12"], LicenseInfo="MIT")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert r["Version"] == 1
    assert r["LayerArn"] == f"arn:aws:lambda:us-east-1:000000000000:layer:{name}"
    assert r["LayerVersionArn"] == r["LayerArn"] + ":1"
    assert r["CompatibleArchitectures"] == ["arm64"] and r["LicenseInfo"] == "MIT" and r["Description"] == ""
    with urllib.request.urlopen(r["Content"]["Location"]) as resp:
        assert resp.read()[:2] == b"PK"
    got = lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert got["Content"]["CodeSha256"] == r["Content"]["CodeSha256"]
    by_arn = lam.get_layer_version_by_arn(Arn=r["LayerVersionArn"])
    assert by_arn["Version"] == 1
    plain = publish(lam, name)
    assert plain["Version"] == 2
    assert "CompatibleArchitectures" not in plain and "CompatibleRuntimes" not in plain and "LicenseInfo" not in plain
    empty = publish(lam, name, CompatibleArchitectures=[], CompatibleRuntimes=[])
    assert empty["CompatibleArchitectures"] == [] and empty["CompatibleRuntimes"] == []


def test_numbers_never_reused_and_deletes_are_idempotent(lam):
    name = unique("layer")
    publish(lam, name)
    publish(lam, name)
    for v in (1, 2, 2, 7):
        assert lam.delete_layer_version(LayerName=name, VersionNumber=v)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []
    assert publish(lam, name)["Version"] == 3
    assert lam.list_layer_versions(LayerName="never-existed")["LayerVersions"] == []


def test_get_errors(lam):
    name = unique("layer")
    publish(lam, name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_layer_version(LayerName=name, VersionNumber=5)
    assert error_of(e) == ("ResourceNotFoundException", "The resource you requested does not exist.", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_layer_version(LayerName=name, VersionNumber=0)
    assert error_of(e)[:2] == ("InvalidParameterValueException", "Layer Version Cannot be less than 1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_layer_version_by_arn(Arn=f"arn:aws:lambda:us-east-1:000000000000:layer:{name}")
    assert error_of(e)[0] == "ValidationException"


def test_invalid_compatible_lists_name_every_field(lam):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        publish(lam, unique("layer"), CompatibleRuntimes=["invalidruntime"], CompatibleArchitectures=["invalidarch"])
    code, msg, _ = error_of(e)
    assert code == "ValidationException"
    assert msg.startswith("2 validation errors detected: Value '[invalidruntime]' at 'compatibleRuntimes'")
    assert "Value '[invalidarch]' at 'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]" in msg


def test_deprecated_runtimes_are_accepted_as_labels(lam):
    r = publish(lam, unique("layer"), CompatibleRuntimes=["python3.7", "go1.x", "provided"])
    assert r["CompatibleRuntimes"] == ["python3.7", "go1.x", "provided"]


def test_filters(server):
    lam = server.client("sa-east-1")
    arm, x86, both, none = (unique("l-arm"), unique("l-x86"), unique("l-both"), unique("l-none"))
    publish(lam, arm, CompatibleArchitectures=["arm64"], CompatibleRuntimes=["python3.12"])
    publish(lam, x86, CompatibleArchitectures=["x86_64"], CompatibleRuntimes=["nodejs22.x"])
    publish(lam, both, CompatibleArchitectures=["x86_64", "arm64"])
    publish(lam, none)
    publish(lam, arm, CompatibleArchitectures=["x86_64"])  # newest arm layer version is x86-only
    names = lambda **kw: [l["LayerName"] for l in lam.list_layers(**kw)["Layers"]]
    assert names() == sorted([arm, x86, both, none])
    assert names(CompatibleArchitecture="arm64") == sorted([arm, both])
    latest_arm = [l for l in lam.list_layers(CompatibleArchitecture="arm64")["Layers"] if l["LayerName"] == arm][0]
    assert latest_arm["LatestMatchingVersion"]["Version"] == 1
    assert names(CompatibleRuntime="nodejs22.x") == [x86]
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=arm)["LayerVersions"]] == [2, 1]
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=arm, CompatibleArchitecture="arm64")["LayerVersions"]] == [1]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.list_layers(CompatibleArchitecture="archdoesnotexist")
    assert error_of(e)[1] == "1 validation error detected: Value 'archdoesnotexist' at 'compatibleArchitecture' failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]"


def test_functions_use_layers_across_architectures(lam):
    name = unique("layer")
    x86_only = publish(lam, name, CompatibleArchitectures=["x86_64"])["LayerVersionArn"]
    fn, resp = create(lam, arch="arm64", Layers=[x86_only])
    assert resp["Layers"][0]["Arn"] == x86_only and resp["Layers"][0]["CodeSize"] > 0
    lam.delete_layer_version(LayerName=name, VersionNumber=1)
    assert lam.get_function_configuration(FunctionName=fn)["Layers"][0]["Arn"] == x86_only


def test_function_layer_rules(lam):
    name = unique("layer")
    v1 = publish(lam, name)["LayerVersionArn"]
    v2 = publish(lam, name)["LayerVersionArn"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, wait=False, Layers=[v1, v2])
    assert error_of(e)[1] == f"Two different versions of the same layer are not allowed to be referenced in the same function. {v1} and {v2} are versions of the same layer."
    others = [publish(lam, unique("layer"))["LayerVersionArn"] for _ in range(6)]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, wait=False, Layers=others)
    assert error_of(e)[1] == "Cannot reference more than 5 layers."
    missing = f"arn:aws:lambda:us-east-1:000000000000:layer:{name}:99"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, wait=False, Layers=[missing])
    assert error_of(e)[1] == f"Layer version {missing} does not exist."
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, wait=False, Layers=[f"arn:aws:lambda:eu-west-1:000000000000:layer:{name}:1"])
    assert error_of(e)[1] == "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."
    fn, _ = create(lam)
    lam.update_function_configuration(FunctionName=fn, Layers=[v2])
    wait_updated(lam, fn)
    assert [l["Arn"] for l in lam.get_function_configuration(FunctionName=fn)["Layers"]] == [v2]
