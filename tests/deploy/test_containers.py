"""The container deployments against the code: the one image (Dockerfile), OpenFaaS's stack.yml, the Knative
manifests and the docker-compose stack: images, ports, environment names, probes and routes, function names."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ethsource.config import Settings
from ethsource.serving import FUNCTIONS, load

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()
KNATIVE = PROJECT_ROOT / "local" / "knative"
OPENFAAS_SECRETS = "/var/openfaas/secrets/"
DEFAULT_QUEUE = Settings.from_env({}).scan_queue


def image_port() -> int:
    port = re.search(r"\bPORT=(\d+)", DOCKERFILE).group(1)
    assert re.search(rf"^EXPOSE {port}$", DOCKERFILE, re.M)
    return int(port)


def paths_of(function: str) -> set[tuple[str, str]]:
    return load(function).app.endpoints()


def with_defaults(text: str) -> str:
    """faas-cli's substitution of ${VAR:-default}, with every variable unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", text)


def test_the_image_serves_any_function_chosen_by_FUNCTION_on_PORT():
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", DOCKERFILE, re.M).group(1)
    assert all(part in entrypoint for part in ("ethsource serve", "${FUNCTION", "--port", "$PORT"))
    assert image_port() == 8080
    assert re.search(r"^ARG FUNCTION", DOCKERFILE, re.M)  # per-function builds (OpenFaaS) bake it in
    for function in FUNCTIONS:
        assert {("GET", "/healthz"), ("GET", "/_/health"), ("GET", "/_/ready")} <= paths_of(function)


# OpenFaaS ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack() -> dict:
    return yaml.safe_load(with_defaults((PROJECT_ROOT / "local" / "openfaas" / "stack.yml").read_text()))


def test_openfaas_builds_each_function_from_the_one_dockerfile_with_the_library_layer(stack):
    copied = stack["configuration"]["copy"]
    assert "./shared" in copied and "./Dockerfile" in copied
    dockerfile_sources = {f"./{source}" for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M)
                          for source in line.split()[:-1]}
    assert dockerfile_sources <= set(copied)  # every file the Dockerfile copies is in the build context
    assert all((PROJECT_ROOT / path).exists() for path in copied)
    assert set(stack["functions"]) == set(FUNCTIONS)
    for name, function in stack["functions"].items():
        assert function["lang"] == "dockerfile"
        assert (PROJECT_ROOT / function["handler"] / "handler.py").is_file()
        assert function["build_args"] == {"FUNCTION": name}
        assert re.fullmatch(rf"[\w.:/-]+/ethsource-{name}:[\w.-]+", function["image"])


def test_openfaas_environment_names_are_read_by_the_code_and_secret_files_are_mounted(stack, setting_names):
    for name, function in stack["functions"].items():
        environment = function.get("environment", {})
        assert set(environment) <= setting_names, name
        for variable, value in environment.items():
            if variable.endswith("_FILE"):
                assert value.startswith(OPENFAAS_SECRETS) and value.removeprefix(OPENFAAS_SECRETS) in function[
                    "secrets"], (name, variable)


def test_openfaas_scan_is_invoked_by_the_rabbitmq_connector_for_the_scan_queue(stack):
    scan = stack["functions"]["scan"]
    assert scan["annotations"]["topic"] == scan["environment"].get("SCAN_QUEUE", DEFAULT_QUEUE)
    assert ("POST", "/") in paths_of("scan")  # where the connector posts each message
    assert "ETHERSCAN_API_KEYS_FILE" in scan["environment"]


def test_openfaas_sweep_is_invoked_by_the_cron_connector_every_minute_with_the_secrets_it_needs(stack):
    functions = stack["functions"]
    sweep = functions["sweep"]
    assert sweep["annotations"] == {"topic": "cron-function", "schedule": "*/1 * * * *"}
    assert ("POST", "/") in paths_of("sweep")  # where the connector posts
    assert sweep["secrets"] == [secret for secret in functions["scan"]["secrets"] if "etherscan" not in secret]
    assert not {name for name in sweep["environment"] if name.startswith("ETHERSCAN")}


# Knative -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def knative() -> dict[tuple[str, str], dict]:
    """Every manifest kustomization.yaml applies, by (kind, name)."""
    kustomization = yaml.safe_load((KNATIVE / "kustomization.yaml").read_text())
    manifests = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((KNATIVE / resource).read_text()):
            manifests[document["kind"], document["metadata"]["name"]] = document
    assert {path.name for path in KNATIVE.glob("*.yaml")} == {"kustomization.yaml", *kustomization["resources"]}
    return manifests


def knative_services(knative) -> dict[str, dict]:
    return {name: manifest for (kind, name), manifest in knative.items() if kind == "Service"}


def test_knative_runs_each_function_from_the_one_image_on_its_port(knative):
    kustomization = yaml.safe_load((KNATIVE / "kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    services = knative_services(knative)
    assert set(services) == set(FUNCTIONS)
    for name, service in services.items():
        (container,) = service["spec"]["template"]["spec"]["containers"]
        assert container["image"] == image["name"] == "ethsource"
        assert container["ports"] == [{"name": "http1", "containerPort": image_port()}]
        assert {"name": "FUNCTION", "value": name} in container["env"]
        assert "PORT" not in {variable["name"] for variable in container["env"]}  # Knative sets it


def test_knative_probes_and_autoscaling(knative):
    for name, service in knative_services(knative).items():
        template = service["spec"]["template"]
        (container,) = template["spec"]["containers"]
        probes = {container["readinessProbe"]["httpGet"]["path"], container["livenessProbe"]["httpGet"]["path"]}
        assert probes == {"/_/ready", "/_/health"}
        assert {("GET", path) for path in probes} <= paths_of(name)
        annotations = template["metadata"]["annotations"]
        assert int(annotations["autoscaling.knative.dev/min-scale"]) <= int(
            annotations["autoscaling.knative.dev/max-scale"])
        assert int(annotations["autoscaling.knative.dev/target"]) > 0


def test_knative_environment_comes_from_config_and_secrets_with_names_the_code_reads(knative, setting_names):
    for name, service in knative_services(knative).items():
        (container,) = service["spec"]["template"]["spec"]["containers"]
        names = {variable["name"] for variable in container["env"]}
        for source in container["envFrom"]:
            kind, ref = ("ConfigMap", source["configMapRef"]) if "configMapRef" in source else ("Secret",
                                                                                                 source["secretRef"])
            manifest = knative[kind, ref["name"]]
            names |= set(manifest.get("data") or manifest.get("stringData"))
        assert names <= setting_names | {"FUNCTION"}, name
        assert ("ETHERSCAN_API_KEYS" in names) == (name == "scan"), name


def test_the_rabbitmq_source_pushes_the_scan_queue_to_the_scan_service(knative):
    (source,) = [manifest for (kind, _), manifest in knative.items() if kind == "RabbitmqSource"]
    spec = source["spec"]
    assert spec["rabbitmqResourcesConfig"]["queueName"] == knative["ConfigMap", "ethsource-config"]["data"][
        "SCAN_QUEUE"] == DEFAULT_QUEUE
    assert spec["rabbitmqResourcesConfig"]["predeclared"] is True  # submit declares it with its dead letters
    assert spec["sink"]["ref"] == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "scan"}
    assert ("Secret", spec["rabbitmqClusterReference"]["connectionSecret"]["name"]) in knative
    assert ("POST", "/") in paths_of("scan")


def test_a_ping_source_posts_to_the_sweep_service_every_minute(knative):
    (source,) = [manifest for (kind, _), manifest in knative.items() if kind == "PingSource"]
    assert source["apiVersion"] == "sources.knative.dev/v1"
    assert source["spec"]["schedule"] == "*/1 * * * *"
    assert source["spec"]["sink"]["ref"] == {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "sweep"}
    assert ("POST", "/") in paths_of("sweep")  # a Knative sink receives the event at its root


def test_the_migration_job_runs_the_migrate_command_of_the_image(knative):
    job = knative["Job", "ethsource-migrate"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ethsource"
    assert container["command"] == ["ethsource", "migrate"]


# docker-compose ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose() -> dict:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: `make test` installs it (local/services.sh)"
    checked = subprocess.run([docker_compose, "-f", "local/docker-compose.yaml", "--env-file", "local/.env.sample",
                              "config"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    return yaml.safe_load(checked.stdout)


def test_compose_runs_each_function_from_the_one_image(compose, setting_names):
    from_image = {name: service for name, service in compose["services"].items()
                  if Path(service.get("build", {}).get("context", "/nowhere")) == PROJECT_ROOT}
    functions = {service["environment"]["FUNCTION"]: name for name, service in from_image.items()
                 if "FUNCTION" in service.get("environment", {})}
    assert set(functions) == set(FUNCTIONS)
    for name, service in from_image.items():
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert set(service.get("environment", {})) <= setting_names | {"FUNCTION", "PORT"}, name


def test_compose_runs_sweep_on_its_own_timer(compose):
    sweep = compose["services"]["sweep"]["environment"]
    assert sweep["FUNCTION"] == "sweep"
    assert float(sweep["SWEEP_INTERVAL"]) > 0  # no scheduler in compose calls it


def test_compose_gateway_fills_each_upstream_of_the_template_with_its_function_service(compose):
    gateway = compose["services"]["gateway"]
    variables = set(re.findall(r"\$\{(\w+)\}", (PROJECT_ROOT / "local" / "gateway" / "ethsource.conf.template")
                               .read_text()))
    assert variables <= set(gateway["environment"])
    port = compose["services"]["submit"]["environment"]["PORT"]
    for function in FUNCTIONS:
        assert gateway["environment"][f"{function.upper()}_UPSTREAM"] == f"{function}:{port}"
        assert function in gateway["depends_on"]  # nginx resolves every upstream's host when it starts
