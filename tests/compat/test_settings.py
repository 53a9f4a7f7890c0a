"""Tags, reserved concurrency and account settings."""

import botocore.exceptions
import pytest

from conftest import create, make_zip


def error_of(e):
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_tags(lam):
    name, resp = create(lam, Tags={"team": "a"})
    arn = resp["FunctionArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "a"}
    lam.tag_resource(Resource=arn, Tags={"env": "prod", "team": "b"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "b", "env": "prod"}
    lam.untag_resource(Resource=arn, TagKeys=["team", "absent"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "prod"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"env": "prod"}
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.tag_resource(Resource=arn + ":1", Tags={"a": "b"})
    assert error_of(e)[0] == "InvalidParameterValueException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.list_tags(Resource="arn:aws:lambda:us-east-1:000000000000:function:nope")
    assert error_of(e)[0] == "ResourceNotFoundException"


def test_reserved_concurrency(server):
    lam = server.client("ca-central-1")
    name, _ = create(lam)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=100)["ReservedConcurrentExecutions"] == 100
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 100
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 100}
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 900
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=901)
    assert error_of(e)[1] == "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."
    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)


def test_account_settings_count_code(server):
    lam = server.client("eu-north-1")
    s0 = lam.get_account_settings()
    assert s0["AccountLimit"]["CodeSizeZipped"] == 52428800
    assert s0["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert s0["AccountLimit"]["TotalCodeSize"] == 80530636800
    assert s0["AccountUsage"] == {"FunctionCount": 0, "TotalCodeSize": 0}
    z = make_zip()
    name, _ = create(lam, zip_bytes=z)
    lam.publish_version(FunctionName=name)
    lam.publish_layer_version(LayerName="l", Content={"ZipFile": z})
    lam.update_function_configuration(FunctionName=name, Description="config changes do not add code")
    s1 = lam.get_account_settings()
    assert s1["AccountUsage"] == {"FunctionCount": 1, "TotalCodeSize": 3 * len(z)}
