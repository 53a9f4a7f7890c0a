#!/usr/bin/env python3
"""Writes crates/archfn-api/data/lambda-model.json: the request side of the Lambda API model that
botocore ships (operations, their HTTP bindings, and the constraints of every shape a request can
hold), without documentation. archfn validates requests against it (crates/archfn-api/src/validation).

    scripts/lambda-model.py            # rewrite the file from the installed botocore
    scripts/lambda-model.py --check    # exit 1 when the file differs from the installed botocore
"""
import gzip
import json
import pathlib
import sys

import botocore

REPO = pathlib.Path(__file__).resolve().parent.parent
OUT = REPO / "crates" / "archfn-api" / "data" / "lambda-model.json"
KEEP = ("type", "min", "max", "pattern", "enum", "sensitive", "payload")


def load_model() -> dict:
    base = pathlib.Path(botocore.__file__).parent / "data" / "lambda" / "2015-03-31"
    plain = base / "service-2.json"
    if plain.exists():
        return json.loads(plain.read_text())
    return json.loads(gzip.decompress((base / "service-2.json.gz").read_bytes()))


def reachable(shapes: dict, roots) -> list:
    seen, todo = [], list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.append(name)
        s = shapes[name]
        for m in s.get("members", {}).values():
            todo.append(m["shape"])
        for k in ("member", "key", "value"):
            if k in s:
                todo.append(s[k]["shape"])
    return sorted(seen)


def compact(model: dict) -> dict:
    shapes = model["shapes"]
    ops = {}
    for name, op in sorted(model["operations"].items()):
        entry = {"method": op["http"]["method"], "uri": op["http"]["requestUri"]}
        if "input" in op:
            entry["input"] = op["input"]["shape"]
        ops[name] = entry
    out_shapes = {}
    for name in reachable(shapes, [o["input"] for o in ops.values() if "input" in o]):
        s = shapes[name]
        c = {k: s[k] for k in KEEP if k in s}
        if "required" in s:
            c["required"] = s["required"]
        if "members" in s:
            c["members"] = [
                {k: v for k, v in (("name", m), ("shape", spec["shape"]),
                                   ("location", spec.get("location")),
                                   ("locationName", spec.get("locationName"))) if v is not None}
                for m, spec in s["members"].items()
            ]
        for k in ("member", "key", "value"):
            if k in s:
                c[k] = s[k]["shape"]
        out_shapes[name] = c
    return {
        "source": "botocore " + botocore.__version__ + ", data/lambda/2015-03-31/service-2.json",
        "apiVersion": model["metadata"]["apiVersion"],
        "operations": ops,
        "shapes": out_shapes,
    }


def main() -> int:
    text = json.dumps(compact(load_model()), indent=1, sort_keys=False) + "\n"
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT.relative_to(REPO)} differs from the installed botocore's model: run scripts/lambda-model.py")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
