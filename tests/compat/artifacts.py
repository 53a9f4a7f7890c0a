"""Real artifacts for the scanner and migration tests, fetched from the registries once and
cached under target/test-cache: wheels from PyPI, npm packages, Debian packages of both
architectures."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "target" / "test-cache"


def wheels(*specs: str, platform: str = "manylinux2014_x86_64", python: str = "3.11") -> list[Path]:
    """Downloads wheels (no dependencies) for a platform; returns their paths."""
    dest = CACHE / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    found = []
    for spec in specs:
        name, version = spec.split("==")
        stem = name.replace("-", "_").lower()

        def matching():
            return [p for p in dest.glob("*.whl")
                    if p.name.lower().startswith(f"{stem}-{version}-")
                    and (platform.split("_", 1)[1] in p.name or p.name.endswith("-any.whl"))]

        if not matching():
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                            "--only-binary=:all:", "--no-deps", "--platform", platform, "--python-version", python,
                            "--implementation", "cp", "-d", str(dest), spec], check=True)
        found.append(sorted(matching())[-1])
    return found


def install_wheels(paths: list[Path], target: Path) -> Path:
    """Installs wheels into a directory, as a Lambda package holds them."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-index", "--no-compile", "--target", str(target), *map(str, paths)], check=True)
    return target


def npm_package(spec: str) -> Path:
    """`npm pack` of a package version (a .tgz whose files are under package/)."""
    dest = CACHE / "npm"
    dest.mkdir(parents=True, exist_ok=True)
    name, version = spec.rsplit("@", 1)
    tgz = dest / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tgz.exists():
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(dest), spec], check=True,
                       capture_output=True)
    return tgz


def debian_package(name: str, arch: str) -> Path:
    """A Debian package of an architecture (amd64, arm64), unpacked; returns its root."""
    debs = CACHE / "debs"
    root = debs / f"{name}-{arch}"
    if not root.exists():
        debs.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "-qq", f"{name}:{arch}"], cwd=debs, check=True)
        deb = sorted(debs.glob(f"{name}_*_{arch}.deb"))[-1]
        tmp = debs / f".{name}-{arch}"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        tmp.rename(root)
    return root


def hello(arch: str) -> bytes:
    """GNU hello from Debian: a dynamically linked program needing glibc 2.34."""
    return (debian_package("hello", arch) / "usr" / "bin" / "hello").read_bytes()


def libz(arch: str) -> bytes:
    """zlib from Debian: a real shared object."""
    triple = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[arch]
    return next((debian_package("zlib1g", arch) / "lib" / triple).glob("libz.so.1.*")).read_bytes()
