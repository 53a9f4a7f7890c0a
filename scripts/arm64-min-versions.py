#!/usr/bin/env python3
"""Derives crates/archfn-scan/data/arm64-support.json from the registries themselves.

For each PyPI project: the first release (in version order) that uploaded a manylinux
aarch64 wheel. For each npm package that ships its native code as per-platform packages:
the first version of its linux-arm64 platform package. The file records, for every entry,
the file or package that proves it and the registry address it was read from.

Run: .venv/bin/python scripts/arm64-min-versions.py > crates/archfn-scan/data/arm64-support.json
"""
import json
import sys
import urllib.parse
import urllib.request

from packaging.version import InvalidVersion, Version

PYPI = [
    "numpy", "scipy", "pandas", "pyarrow", "cryptography", "grpcio", "psycopg2-binary",
    "lxml", "pillow", "orjson", "pydantic-core", "ujson", "regex", "bcrypt", "cffi",
    "greenlet", "markupsafe", "pyyaml", "msgpack", "zstandard", "scikit-learn",
    "matplotlib", "psutil", "numba", "llvmlite", "h5py", "shapely", "pyzmq", "aiohttp",
    "frozenlist", "multidict", "yarl", "duckdb", "polars", "tokenizers", "onnxruntime",
    "opencv-python-headless", "xgboost", "lightgbm", "pymssql", "gevent", "rapidfuzz",
]
# npm package -> its linux arm64 (glibc) platform package.
NPM = {
    "esbuild": "@esbuild/linux-arm64",
    "sharp": "@img/sharp-linux-arm64",
    "@swc/core": "@swc/core-linux-arm64-gnu",
    "rollup": "@rollup/rollup-linux-arm64-gnu",
    "lightningcss": "lightningcss-linux-arm64-gnu",
    "@parcel/watcher": "@parcel/watcher-linux-arm64-glibc",
    "next": "@next/swc-linux-arm64-gnu",
    "@biomejs/biome": "@biomejs/cli-linux-arm64",
    "turbo": "turbo-linux-arm64",
    "@napi-rs/canvas": "@napi-rs/canvas-linux-arm64-gnu",
}


def fetch(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def version_key(v):
    try:
        return (0, Version(v))
    except InvalidVersion:
        return (1, v)


def pypi(name):
    url = f"https://pypi.org/pypi/{name}/json"
    doc = fetch(url)
    releases = sorted(doc["releases"].items(), key=lambda kv: version_key(kv[0]))
    for version, files in releases:
        if version_key(version)[0] or Version(version).is_prerelease or Version(version) == Version("0"):
            continue
        for f in files:
            fn = f["filename"]
            if f.get("yanked"):
                continue
            if fn.endswith(".whl") and "manylinux" in fn and "aarch64" in fn:
                return {"ecosystem": "pypi", "name": name, "min_version": version,
                        "evidence": fn, "source": url}
    return None


def npm(name, platform_package):
    url = "https://registry.npmjs.org/" + urllib.parse.quote(platform_package, safe="@")
    doc = fetch(url)
    versions = sorted((v for v in doc.get("versions", {}) if "-" not in v), key=version_key)
    if not versions:
        return None
    return {"ecosystem": "npm", "name": name, "min_version": versions[0],
            "evidence": f"{platform_package}@{versions[0]}", "source": url}


def main():
    out = []
    for i, name in enumerate(PYPI, 1):
        print(f"[{i}/{len(PYPI) + len(NPM)}] pypi {name}", file=sys.stderr)
        entry = pypi(name)
        if entry:
            out.append(entry)
    for i, (name, plat) in enumerate(NPM.items(), len(PYPI) + 1):
        print(f"[{i}/{len(PYPI) + len(NPM)}] npm {name}", file=sys.stderr)
        entry = npm(name, plat)
        if entry:
            out.append(entry)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
