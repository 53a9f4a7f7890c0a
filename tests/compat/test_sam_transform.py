"""archfn's SAM transform (`archfn sam-transform`, crate archfn-sam) against AWS's own translator
(aws-sam-translator, pinned in requirements.txt), template by template, resource by resource.

Each template in sam-templates/ (YAML or JSON; short-form intrinsics are read as the translator
reads them) is turned into long-form JSON, given to both, and the results compared: the same
resources with the same contents, or the same errors. Where archfn differs on purpose the
difference is named below and checked for what it is.
"""

import json
import pathlib
import subprocess

import pytest
from samtranslator.public.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform as sam_transform
from samtranslator.yaml_helper import yaml_parse

from conftest import archfn_bin

TEMPLATES = pathlib.Path(__file__).parent / "sam-templates"
REGION, ACCOUNT, STACK = "us-east-1", "123456789012", "sam-app"
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::StackName": STACK, "AWS::Partition": "aws"}

# Templates the translator expands and archfn refuses on purpose, each with the error archfn gives:
# what they need is a service or feature archfn does not have, and the transform says so rather
# than drop it.
REFUSED = {
    "events-api.yaml": "Resource with id [HelloFunction] is invalid. Event with id [Hello] is invalid. Event type Api is not supported by archfn.",
    "events-sqs.yaml": "Resource with id [Consumer] is invalid. Event with id [Queue] is invalid. Event type SQS is not supported by archfn.",
    "serverless-api.yaml": "Resource with id [MyApi] is invalid. Resource type AWS::Serverless::Api is not supported by archfn.",
}


@pytest.fixture(autouse=True)
def translator_region(monkeypatch):
    """The translator takes the region of its boto3 session, as CloudFormation gives it the stack's."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


class FakeManagedPolicyLoader:
    """The translator looks up managed policies it does not bundle through IAM; none here."""

    def load(self):
        return {}


def long_form(path: pathlib.Path) -> dict:
    # YAML dates (an unquoted 2012-10-17) become the strings CloudFormation reads them as.
    return json.loads(json.dumps(yaml_parse(path.read_text()), default=str))


def translator(template: dict) -> tuple[dict | None, list[str] | None]:
    try:
        return sam_transform(json.loads(json.dumps(template)), dict(PSEUDO), FakeManagedPolicyLoader()), None
    except InvalidDocumentException as e:
        return None, [c.message for c in e.causes]


def archfn(template: dict, tmp_path: pathlib.Path) -> tuple[dict | None, list[str] | None]:
    source = tmp_path / "template.json"
    source.write_text(json.dumps(template))
    run = subprocess.run(
        [archfn_bin(), "sam-transform", str(source), "--region", REGION, "--account-id", ACCOUNT, "--stack-name", STACK],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode in (0, 1), run.stderr
    out = json.loads(run.stdout)
    if run.returncode == 1:
        assert out["errorMessage"].startswith(
            "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification document. "
            f"Number of errors found: {len(out['causes'])}. "
        )
        return None, out["causes"]
    return out, None


def normalized(resource: dict) -> dict:
    """Intentional difference: archfn holds a template as serde_json holds objects, keys in order, so a
    SAM resource's `Tags` map (whose order the translator keeps) becomes a tag list in key order,
    after SAM's own `lambda:createdBy` which stays first. Tag lists are compared in that order."""
    resource = json.loads(json.dumps(resource))
    properties = resource.get("Properties")
    if isinstance(properties, dict) and isinstance(properties.get("Tags"), list):
        tags = properties["Tags"]
        head = [t for t in tags if t.get("Key") == "lambda:createdBy"]
        rest = sorted((t for t in tags if t.get("Key") != "lambda:createdBy"), key=lambda t: t["Key"])
        properties["Tags"] = head + rest
    return resource


def packaged(template: dict) -> dict:
    """What `sam package` makes of a template before CloudFormation sees it: each local `CodeUri` or
    `ContentUri` (a path) becomes the S3 URI of the uploaded artifact (here a name of our own)."""
    template = json.loads(json.dumps(template))
    sections = [template.get("Resources") or {}]
    sections += [v for v in (template.get("Globals") or {}).values() if isinstance(v, dict)]
    for holder in sections:
        for entry in holder.values() if holder is template.get("Resources") else [{"Properties": holder}]:
            properties = entry.get("Properties") if isinstance(entry, dict) else None
            if not isinstance(properties, dict):
                continue
            for key in ("CodeUri", "ContentUri"):
                value = properties.get(key)
                if isinstance(value, str) and not value.startswith("s3://"):
                    properties[key] = f"s3://sam-artifacts/{value.strip('./') or 'root'}.zip"
    return template


def template_files():
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))


@pytest.mark.parametrize("path", template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_transform_matches_the_translator(path, tmp_path):
    template = long_form(path)
    expected, expected_errors = translator(template)
    got, errors = archfn(template, tmp_path)

    if path.name in REFUSED:
        assert expected is not None, f"the translator now refuses {path.name}: {expected_errors}"
        assert errors == [REFUSED[path.name]]
        return
    if expected_errors is not None:
        # Intentional difference: the errors are the same, but archfn lists them in logical id order
        # (serde_json's object order) where the translator follows the template's order.
        assert errors is not None, "archfn transformed what the translator refuses"
        assert sorted(errors) == sorted(expected_errors)
        return
    assert errors is None, errors
    assert set(got) == set(expected), "top-level sections differ"
    for section in expected:
        if section != "Resources":
            assert got[section] == expected[section], section
    assert sorted(got["Resources"]) == sorted(expected["Resources"]), "logical ids differ"
    for logical_id, resource in expected["Resources"].items():
        assert normalized(got["Resources"][logical_id]) == normalized(resource), logical_id


def test_the_error_names_every_error_in_the_transform_s_words(tmp_path):
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "A": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "src/", "Handler": "a.h", "Runtime": "python3.12"}},
            "B": {"Type": "AWS::Serverless::StateMachine", "Properties": {}},
        },
    }
    got, errors = archfn(template, tmp_path)
    assert got is None
    assert errors == [
        "Resource with id [A] is invalid. 'CodeUri' is not a valid S3 Uri of the form 's3://bucket/key' with optional versionId query parameter.",
        "Resource with id [B] is invalid. Resource type AWS::Serverless::StateMachine is not supported by archfn.",
    ]


SAMPLES = sorted(p for p in (TEMPLATES / "aws-samples").iterdir() if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_packaged_sample_matches_the_translator(path, tmp_path):
    """The aws-samples templates name local code directories, which the transform refuses until
    `sam package` has uploaded them; packaged, both must expand them alike."""
    template = packaged(long_form(path))
    expected, expected_errors = translator(template)
    got, errors = archfn(template, tmp_path)
    if expected_errors is not None:
        assert errors is not None and sorted(errors) == sorted(expected_errors)
        return
    assert errors is None, errors
    assert sorted(got["Resources"]) == sorted(expected["Resources"])
    for logical_id, resource in expected["Resources"].items():
        assert normalized(got["Resources"][logical_id]) == normalized(resource), logical_id
    assert {k: v for k, v in got.items() if k != "Resources"} == {k: v for k, v in expected.items() if k != "Resources"}
