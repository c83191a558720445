"""template.yaml (AWS SAM) against the code: functions, handlers, routes, settings, secrets, the layer.

`cfn-lint template.yaml` (run by `make test`) checks it against CloudFormation and SAM themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ethsource.config import Settings
from ethsource.secrets import URL_PASSWORD_SECRETS
from ethsource.serving import FUNCTIONS, handler_path, load

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LAYER_REQUIREMENTS = PROJECT_ROOT / "shared" / "requirements.txt"
LAYER_EXPORT = ["export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"]


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags: `!Ref X` reads as {"Ref": "X"}, `!Sub s` as {"Fn::Sub": s}."""


def _tag(loader, suffix, node):
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


CloudFormationLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load((PROJECT_ROOT / "template.yaml").read_text(), CloudFormationLoader)


def functions_of(template: dict) -> dict[str, dict]:
    """Each Serverless function's properties, keyed by the function folder its CodeUri names."""
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            properties = resource["Properties"]
            found[properties["CodeUri"].strip("/").removeprefix("functions/")] = properties
    return found


def environment(template: dict, properties: dict) -> dict:
    return {**template["Globals"]["Function"]["Environment"]["Variables"],
            **properties.get("Environment", {}).get("Variables", {})}


def test_every_function_is_deployed_from_its_folder_with_its_lambda_handler(template):
    functions = functions_of(template)
    assert set(functions) == set(FUNCTIONS)
    module_name, handler_name = template["Globals"]["Function"]["Handler"].split(".")
    for name in FUNCTIONS:
        assert handler_path(name).name == f"{module_name}.py"
        assert callable(getattr(load(name), handler_name))


def test_the_runtime_is_the_python_of_the_image_and_of_the_layer_build(template, image_python):
    runtime = template["Globals"]["Function"]["Runtime"]
    assert runtime == f"python{image_python}"
    layer = template["Resources"]["LibraryLayer"]
    assert layer["Metadata"]["BuildMethod"] == runtime
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]


def test_the_layer_is_the_library_package_with_its_requirements(template):
    layer = template["Resources"]["LibraryLayer"]
    content = PROJECT_ROOT / layer["Properties"]["ContentUri"]
    assert (content / "ethsource" / "__init__.py").is_file()
    assert (content / "requirements.txt") == LAYER_REQUIREMENTS
    for function in functions_of(template).values():
        assert {"Ref": "LibraryLayer"} in (function.get("Layers") or template["Globals"]["Function"]["Layers"])


def test_the_layer_requirements_are_the_locked_dependencies():
    uv = os.environ.get("UV") or shutil.which("uv")
    exported = subprocess.run([uv, *LAYER_EXPORT], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)

    def requirements(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]

    assert requirements(LAYER_REQUIREMENTS.read_text()) == requirements(exported.stdout), (
        "shared/requirements.txt is stale: run `make layer-requirements`")


def test_every_api_route_of_the_http_functions_has_its_http_api_event(template, http_routes):
    for name, routes in http_routes.items():
        assert routes, name
        events = functions_of(template)[name]["Events"].values()
        wired = {(event["Properties"]["Method"], event["Properties"]["Path"]) for event in events
                 if event["Type"] == "HttpApi" and event["Properties"]["Path"].startswith("/contracts")}
        assert wired == routes, name
        assert all(event["Properties"]["ApiId"] == {"Ref": "HttpApi"} for event in events)


def test_scan_is_triggered_by_the_scan_queue_with_the_brokers_basic_auth_secret(template):
    scan = functions_of(template)["scan"]
    (trigger,) = scan["Events"].values()
    assert trigger["Type"] == "MQ"
    assert trigger["Properties"]["Queues"] == [{"Ref": "ScanQueue"}]
    assert template["Parameters"]["ScanQueue"]["Default"] == Settings.from_env({}).scan_queue
    auth = {access["Type"]: access["URI"] for access in trigger["Properties"]["SourceAccessConfigurations"]}
    assert auth["BASIC_AUTH"] == environment(template, scan)["RABBITMQ_PASSWORD_SECRET_ARN"]
    assert environment(template, scan)["SCAN_QUEUE"] == {"Ref": "ScanQueue"}


def test_sweep_runs_every_minute_and_publishes_to_the_scan_queue_without_the_etherscan_keys(template):
    sweep = functions_of(template)["sweep"]
    (trigger,) = sweep["Events"].values()
    assert (trigger["Type"], trigger["Properties"]["Schedule"]) == ("Schedule", "rate(1 minute)")
    env = environment(template, sweep)
    assert env["SCAN_QUEUE"] == environment(template, functions_of(template)["scan"])["SCAN_QUEUE"]
    assert env["RABBITMQ_PASSWORD_SECRET_ARN"] == {"Ref": "BrokerSecretArn"}
    assert not {name for name in env if name.startswith("ETHERSCAN")}


def test_every_environment_name_is_one_the_code_reads(template, setting_names):
    for name, function in functions_of(template).items():
        assert set(environment(template, function)) <= setting_names, name


def test_each_secret_reference_comes_with_the_permission_to_read_it(template):
    for name, function in functions_of(template).items():
        env = environment(template, function)
        policies = [next(iter(policy.items())) for policy in function.get("Policies", [])]
        readable_secrets = {arguments["SecretArn"]["Ref"] for kind, arguments in policies
                            if kind == "AWSSecretsManagerGetSecretValuePolicy"}
        readable_parameters = {arguments["ParameterName"]["Ref"] for kind, arguments in policies
                               if kind == "SSMParameterWithSlashPrefixReadPolicy"}
        for reference in URL_PASSWORD_SECRETS.values():
            if reference in env:
                assert env[reference]["Ref"] in readable_secrets, (name, reference)
        if "ETHERSCAN_API_KEYS_PARAMETER" in env:
            assert env["ETHERSCAN_API_KEYS_PARAMETER"]["Ref"] in readable_parameters, name


def test_the_api_url_is_an_output(template):
    assert "${HttpApi}.execute-api" in template["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"]
