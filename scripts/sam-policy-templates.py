#!/usr/bin/env python3
"""Writes crates/archfn-sam/data/policy-templates.json: SAM's policy templates (the names a
function's `Policies` may use, e.g. `S3ReadPolicy: {BucketName: …}`), each with the parameters it
takes and the policy document it stands for, as AWS publishes them in aws-sam-translator.

Run after upgrading aws-sam-translator (pip install -r tests/compat/requirements.txt).
"""
import json
import pathlib

import samtranslator

source = pathlib.Path(samtranslator.__file__).parent / "policy_templates_data" / "policy_templates.json"
templates = json.loads(source.read_text())["Templates"]
table = {
    name: {"Parameters": sorted(t.get("Parameters", {})), "Definition": t.get("Definition", {})}
    for name, t in sorted(templates.items())
}
target = pathlib.Path(__file__).resolve().parent.parent / "crates" / "archfn-sam" / "data" / "policy-templates.json"
target.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
print(f"{len(table)} policy templates written to {target}")
