"""deploy/: the compose file and the Helm chart parse, follow the schema subset they use (no
unknown keys), name only real settings and CLI commands, and wire the multi-machine layout
(two API processes behind a load balancer, two workers, migrations first). With Docker's
compose plugin or Helm on PATH, `docker compose config` and `helm lint` run too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from idproof.cli.main import app as cli_app
from tests.deploy_support import TemplateError, render, setting_path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
CHART = ROOT / "deploy" / "helm" / "idproof"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComposeService(_Strict):
    image: str
    build: dict[str, str] | None = None
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)
    ports: list[str] = Field(default_factory=list)
    depends_on: dict[str, dict[Literal["condition"], Literal[
        "service_started", "service_healthy", "service_completed_successfully"]]] = Field(
        default_factory=dict)
    healthcheck: dict[Literal["test", "interval", "timeout", "retries"], Any] | None = None
    deploy: dict[Literal["replicas"], int] | None = None
    restart: Literal["no", "always", "on-failure", "unless-stopped"] = "no"


class ComposeFile(BaseModel):
    model_config = ConfigDict(extra="allow")  # x-* extension fields (the YAML anchors)

    name: str
    services: dict[str, ComposeService]
    volumes: dict[str, dict[str, Any]]
    secrets: dict[str, dict[Literal["file"], str]]


class Chart(_Strict):
    apiVersion: Literal["v2"]
    name: str
    description: str
    type: Literal["application"]
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    appVersion: str


class Container(_Strict):
    name: str
    image: str
    imagePullPolicy: Literal["Always", "IfNotPresent", "Never"]
    args: list[str]
    ports: list[dict[str, Any]] = Field(default_factory=list)
    envFrom: list[dict[Literal["configMapRef"], dict[Literal["name"], str]]]
    readinessProbe: dict[str, Any] | None = None
    livenessProbe: dict[str, Any] | None = None
    resources: dict[Literal["requests", "limits"], dict[str, Any]] | None = None
    volumeMounts: list[dict[str, Any]]


class PodSpec(_Strict):
    containers: list[Container]
    volumes: list[dict[str, Any]]
    securityContext: dict[str, Any]
    restartPolicy: Literal["Always", "OnFailure", "Never"] | None = None
    terminationGracePeriodSeconds: int | None = None


class PodTemplate(_Strict):
    metadata: dict[Literal["labels"], dict[str, str]] = Field(default_factory=dict)
    spec: PodSpec


class Metadata(_Strict):
    name: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)


class DeploymentSpec(_Strict):
    replicas: int = Field(ge=1)
    selector: dict[Literal["matchLabels"], dict[str, str]]
    template: PodTemplate


class Deployment(_Strict):
    apiVersion: Literal["apps/v1"]
    kind: Literal["Deployment"]
    metadata: Metadata
    spec: DeploymentSpec


class JobSpec(_Strict):
    backoffLimit: int
    template: PodTemplate


class Job(_Strict):
    apiVersion: Literal["batch/v1"]
    kind: Literal["Job"]
    metadata: Metadata
    spec: JobSpec


def _compose() -> ComposeFile:
    return ComposeFile.model_validate(yaml.safe_load(COMPOSE.read_text()))


def _cli_accepts(args: list[str]) -> None:
    """The command exists and every --option given is one of its options."""
    words = [a for a in args if not a.startswith("-")]
    cmd = [w for w in words if w in {"serve", "worker", "db", "upgrade"}]
    result = CliRunner().invoke(cli_app, [*cmd, "--help"], terminal_width=200)
    assert result.exit_code == 0, (args, result.output)
    for opt in (a for a in args if a.startswith("--")):
        assert opt in result.output, (opt, args)


def test_compose_layout() -> None:
    compose = _compose()
    svc = compose.services
    assert {"api", "worker", "migrate", "postgres", "redis", "lb", "hsm-init"} <= set(svc)
    assert svc["api"].deploy == {"replicas": 2} and svc["worker"].deploy == {"replicas": 2}
    assert svc["api"].command is not None and "--no-jobs" in svc["api"].command
    assert svc["api"].depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(svc["api"].healthcheck["test"])  # type: ignore[index]
    for name, s in svc.items():
        for dep in s.depends_on:
            assert dep in svc, (name, dep)
        for secret in s.secrets:
            assert secret in compose.secrets, (name, secret)
        for vol in s.volumes:
            source = vol.split(":", 1)[0]
            assert source.startswith("./") or source in compose.volumes, (name, vol)
            if source.startswith("./"):
                assert (COMPOSE.parent / source).exists(), vol
        if s.command and s.image.startswith("${IDPROOF_IMAGE") and not s.entrypoint:
            _cli_accepts(s.command)
        for env in s.environment:
            if env.startswith("IDPROOF_"):
                setting_path(env)  # KeyError: a setting that does not exist
            if env.endswith("_FILE") and env.startswith("IDPROOF_"):
                mount = s.environment[env]
                assert mount.removeprefix("/run/secrets/") in s.secrets, (name, env)
    assert "server api:8000" in (COMPOSE.parent / "nginx.conf").read_text()
    assert (COMPOSE.parent / ".gitignore").read_text().strip() == "secrets/"
    assert (ROOT / svc["api"].build["dockerfile"]).exists()  # type: ignore[index]


def test_setting_names_are_checked() -> None:
    assert setting_path("IDPROOF_KMS__PKCS11_PIN_FILE") == ["kms", "pkcs11_pin"]
    for wrong in ("IDPROOF_KMS__PIN", "IDPROOF_DATABASE", "IDPROOF_BLOBS__BACKEND__X"):
        with pytest.raises(KeyError):
            setting_path(wrong)
    with pytest.raises(TemplateError):
        render("a: {{ .Values.missing }}", {})
    with pytest.raises(TemplateError):
        render("a: {{ include \"x\" . }}", {})


def _rendered(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    chart = Chart.model_validate(yaml.safe_load((CHART / "Chart.yaml").read_text()))
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted((CHART / "templates").glob("*.yaml")):
        text = render(path.read_text(), values, release="idp", chart=chart.model_dump())
        for doc in yaml.safe_load_all(text):
            if doc:
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def test_helm_chart_renders_valid_objects() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    docs = _rendered(values)
    assert set(docs) == {"ConfigMap/idp-env", "Deployment/idp-api", "Deployment/idp-worker",
                         "Job/idp-migrate", "Service/idp-api"}
    env = docs["ConfigMap/idp-env"]["data"]
    for name in env:
        setting_path(name)
    assert "IDPROOF_RESIDENCY__REGION" not in env  # one region unless configured
    api = Deployment.model_validate(docs["Deployment/idp-api"])
    worker = Deployment.model_validate(docs["Deployment/idp-worker"])
    job = Job.model_validate(docs["Job/idp-migrate"])
    assert api.spec.replicas == values["api"]["replicas"] == 2
    assert worker.spec.replicas == 2
    for dep in (api, worker):
        labels = dep.spec.template.metadata["labels"]
        assert dep.spec.selector["matchLabels"].items() <= labels.items()
        (container,) = dep.spec.template.spec.containers
        assert container.image == "idproof:0.1.0"
        assert container.envFrom[0]["configMapRef"]["name"] == "idp-env"
        _cli_accepts(container.args)
    assert api.spec.template.spec.containers[0].resources == values["api"]["resources"]
    assert api.spec.template.spec.containers[0].readinessProbe["httpGet"]["path"] == "/readyz"  # type: ignore[index]
    assert job.metadata.annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job.spec.template.spec.containers[0].args == ["db", "upgrade"]
    service = docs["Service/idp-api"]["spec"]
    assert service["selector"].items() <= api.spec.template.metadata["labels"].items()
    regions = '{"eu": {"database_url": "postgresql+psycopg://u@db.eu/idproof"}}'
    eu = _rendered({**values, "residency": {"region": "eu", "regions": regions}})
    eu_env = eu["ConfigMap/idp-env"]["data"]
    assert eu_env["IDPROOF_RESIDENCY__REGION"] == "eu"
    assert eu_env["IDPROOF_RESIDENCY__REGIONS"] == regions  # quoted JSON survives YAML
    assert eu_env["IDPROOF_LOGGING__JSON_LOGS"] == "true"
    with_ingress = _rendered({**values, "ingress": {**values["ingress"], "enabled": True}})
    rule = with_ingress["Ingress/idp-api"]["spec"]["rules"][0]
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "idp-api"


def _has_compose() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True,
                          check=False).returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="docker compose is not installed")
def test_docker_compose_config(tmp_path: Path) -> None:
    target = tmp_path / "compose"
    shutil.copytree(COMPOSE.parent, target)
    subprocess.run(["sh", str(target / "init-secrets.sh")], check=True, capture_output=True)
    r = subprocess.run(["docker", "compose", "-f", str(target / "compose.yaml"), "config",
                        "-q"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not installed")
def test_helm_lint() -> None:
    r = subprocess.run(["helm", "lint", str(CHART)], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
