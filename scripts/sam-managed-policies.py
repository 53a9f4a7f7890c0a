#!/usr/bin/env python3
"""Writes crates/archfn-sam/data/aws-managed-policies.txt: the AWS managed policies a SAM
function's `Policies` may name without an ARN, one policy path (after `arn:aws:iam::aws:policy/`) a line.

The list is the one the installed aws-sam-translator bundles (pip install -r tests/compat/requirements.txt).
"""
import json
import pathlib

import samtranslator

source = pathlib.Path(samtranslator.__file__).parent / "internal" / "data" / "aws_managed_policies.json"
prefix = "arn:aws:iam::aws:policy/"
paths = sorted(arn[len(prefix):] for arn in json.loads(source.read_text())["aws"].values())
target = pathlib.Path(__file__).resolve().parent.parent / "crates" / "archfn-sam" / "data" / "aws-managed-policies.txt"
target.write_text("".join(p + "\n" for p in paths))
print(f"{len(paths)} policies written to {target}")
