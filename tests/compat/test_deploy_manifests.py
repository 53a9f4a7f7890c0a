"""The Kubernetes manifests under deploy/kubernetes: valid against Kubernetes' own schemas
(kubernetes-validate, strict: unknown fields are errors), and in step with the binary: every flag
and environment variable they give `archfn serve` is one it takes, and each worker installs and
advertises what its machines can run."""

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, archfn_bin

MANIFESTS = sorted((REPO / "deploy" / "kubernetes").glob("*.yaml"))
KUBERNETES_VERSIONS = ["1.30.0", "1.33.0"]
# The Lambda architecture of each Kubernetes one.
LAMBDA_ARCH = {"amd64": "x86_64", "arm64": "arm64"}


def documents():
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def of_kind(kind):
    return [doc for _, doc in documents() if doc["kind"] == kind]


@pytest.fixture(scope="module")
def serve_help():
    out = subprocess.run([archfn_bin(), "serve", "--help"], capture_output=True, text=True, check=True)
    return out.stdout


def archfn_containers(deployment):
    spec = deployment["spec"]["template"]["spec"]
    return [c for c in spec["containers"] if c["image"].startswith("archfn:")]


def test_there_are_manifests():
    names = {p.name for p in MANIFESTS}
    assert {"20-control.yaml", "30-workers.yaml"} <= names


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_against_kubernetes_schemas(version):
    validator = Path(REPO / ".venv" / "bin" / "kubernetes-validate")
    res = subprocess.run([str(validator), "--strict", "-k", version, *map(str, MANIFESTS)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "did not validate" not in res.stdout + res.stderr


def test_the_validator_refuses_a_broken_manifest(tmp_path):
    # The check above can fail: a Deployment with a misspelt field is refused.
    doc = of_kind("Deployment")[0]
    doc["spec"]["replicaz"] = 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    validator = REPO / ".venv" / "bin" / "kubernetes-validate"
    res = subprocess.run([str(validator), "--strict", "-k", KUBERNETES_VERSIONS[-1], str(bad)],
                         capture_output=True, text=True)
    assert res.returncode != 0


def test_every_flag_given_to_serve_exists(serve_help):
    deployments = of_kind("Deployment")
    assert deployments
    for d in deployments:
        for c in archfn_containers(d):
            args = c["args"]
            assert args[0] == "serve", c["name"]
            for arg in args[1:]:
                if arg.startswith("--"):
                    assert f"{arg} " in serve_help or f"{arg}\n" in serve_help, (d["metadata"]["name"], arg)


def test_every_setting_is_a_variable_serve_reads(serve_help):
    keys = set(of_kind("ConfigMap")[0]["data"]) | set(of_kind("Secret")[0]["stringData"])
    for key in keys:
        if key in ("ARCHFN_INSTALL_RUNTIMES", "credentials") or key.startswith("AWS_"):
            continue
        # clap prints `[env: KEY=value]`, or `[env: KEY]` for a variable whose value it hides.
        assert f"env: {key}=" in serve_help or f"env: {key}]" in serve_help, key


def test_workers_run_on_their_architecture_and_advertise_their_pod():
    workers = [d for d in of_kind("Deployment") if d["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"]
    assert {w["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/arch"] for w in workers} == {"amd64", "arm64"}
    for w in workers:
        spec = w["spec"]["template"]["spec"]
        arch = LAMBDA_ARCH[spec["nodeSelector"]["kubernetes.io/arch"]]
        assert w["metadata"]["labels"]["archfn.dev/architecture"] == arch
        init = " ".join(spec["initContainers"][0]["args"])
        assert f"--arch {arch} " in init
        (c,) = archfn_containers(w)
        args = c["args"]
        assert args[args.index("--role") + 1] == "worker"
        assert args[args.index("--advertise") + 1].startswith("http://$(POD_IP):")
        assert any(e["name"] == "POD_IP" and e["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP" for e in c["env"])


def test_runtimes_installed_at_start_install_on_both_architectures(runtimes):
    # The fixture installs each of them with the same `archfn runtime install` the init containers run.
    listed = subprocess.run([archfn_bin(), "runtime", "list", "--runtimes-dir", str(runtimes)],
                            capture_output=True, text=True, check=True).stdout
    installed = {tuple(line.split()[:2]) for line in listed.splitlines()[1:]}
    wanted = of_kind("ConfigMap")[0]["data"]["ARCHFN_INSTALL_RUNTIMES"].split()
    assert wanted
    for rt in wanted:
        for arch in LAMBDA_ARCH.values():
            assert (rt, arch) in installed, (rt, arch, listed)
