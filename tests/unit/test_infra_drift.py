"""The Azure templates agree with the code: no drift between the settings the app
reads (shared/config.py), the app settings Bicep sets (infra/), the local sample
(local.settings.sample.json), the queue the triggers use, and host.json.

Every `.bicep` file is parsed with pycep-parser (the parser checkov uses), so the
checks read the templates' structure, not their text. Example of what fails here::

    # infra/app/api.bicep
    var appSettings = {
      RETRY_MAX_ATEMPTS: '12'    # typo: not a setting shared/config.py reads
    }
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from shared.config import Settings, setting_names

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
API_MODULE = "app/api.bicep"
SERVICE_BUS_MODULE = "app/servicebus.bicep"

# Read by the app but never set in Azure: they point at local stand-ins.
LOCAL_ONLY = {
    "AzureWebJobsStorage",  # Azurite connection string; Azure uses AzureWebJobsStorage__*
    "LOCAL_QUEUE_PATH",  # the local session queue that stands in for Service Bus
    "LOCAL_SECRETS_DIR",  # the local secret store that stands in for Key Vault
}

# Read by the Functions host, the Python worker or the platform, not by shared/config.py.
RUNTIME_ONLY = {
    # Functions host: connect AzureWebJobsStorage with a managed identity.
    "AzureWebJobsStorage__credential",
    # Functions host (Service Bus extension): connect ServiceBusConnection with a managed identity.
    "ServiceBusConnection__credential",
    # Functions host: send telemetry with Entra ID (local auth is off on Application Insights).
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    # Local runs only: picks the language worker. Flex Consumption rejects it as an app
    # setting (functionAppConfig.runtime says python 3.11 instead).
    "FUNCTIONS_WORKER_RUNTIME",
    # Local runs only: worker indexing of the v2 model (always on in Azure's v4 runtime).
    "AzureWebJobsFeatureFlags",
}

# Read by the app but not set by Bicep: each has a default in shared/config.py that is
# right for Azure. Change one for a deployment with `appSettingOverrides` in
# infra/main.parameters.json (its names are checked below too).
OPTIONAL = {
    "PLATFORM_TIMEOUT_SECONDS": "tuning: timeout of one platform call",
    "PLATFORM_MAX_CALLS_PER_SECOND": "tuning: per-instance pace, unpaced by default (the total is"
    " bounded by maximumInstanceCount x maxConcurrentSessions)",
    "CIRCUIT_FAILURE_THRESHOLD": "tuning: circuit breaker on the platform",
    "CIRCUIT_COOLDOWN_SECONDS": "tuning: circuit breaker on the platform",
    "CIRCUIT_MAX_COOLDOWN_SECONDS": "tuning: circuit breaker on the platform",
    "ALERT_WINDOW_MINUTES": "tuning: alert de-duplication window",
    "ALERT_FAILURE_RATE": "tuning: alert threshold",
    "ALERT_MIN_ATTEMPTS": "tuning: alert threshold",
    "MAX_BODY_BYTES": "tuning: input limit of the public contract",
    "INBOUND_REQUESTS_PER_SECOND": "tuning: input limit of the public contract",
    "MAX_ITEMS_PER_EVENT": "tuning: input limit of the public contract",
    "RETRY_MAX_ATTEMPTS": "tuning: retry policy",
    "RETRY_BASE_DELAY_SECONDS": "tuning: retry policy",
    "RETRY_MAX_DELAY_SECONDS": "tuning: retry policy",
    "RETRY_OVERRIDES": "tuning: per-action retry policy, empty by default",
    "PROCESSING_LEASE_SECONDS": "tuning: when the timer recovers a stuck event",
    "PROCESSING_MARK_SECONDS": "tuning: when a slow attempt is shown as processing",
    "ENQUEUE_GRACE_SECONDS": "tuning: when the timer re-sends a never-picked-up event",
    "TIMER_BUDGET_SECONDS": "tuning: time one timer run may spend",
    "FLOW_FLUSH_SECONDS": "tuning: how often each instance writes its flow counts",
    "REQUEUE_PER_INTEGRATION_PER_RUN": "tuning: retry pacing per integration",
    "EVENT_PARTITION_SHARDS": "storage layout: fixed once events exist, keep the default",
    "ENTITY_ORDERING_SHARDS": "tuning: sessions per integration under entity ordering",
    "ENTITY_DEPENDENCY_WAIT_SECONDS": "tuning: how long entity ordering awaits an unknown SKU",
    "IDEMPOTENCY_WINDOW_HOURS": "tuning: how long an Idempotency-Key holds",
    "MASKED_FIELDS": "optional extra field names to mask, none by default",
    "RETENTION_VERSION_DAYS": "retention: how long a record's newest version is remembered",
    "RETENTION_BATCH": "tuning: most records one timer run purges",
    "RETENTION_INTERVAL_MINUTES": "tuning: pause between purges once caught up",
    "RETENTION_BUDGET_SECONDS": "tuning: time one timer run may spend purging",
}

# App settings that must be Key Vault references in Azure, never plain values.
KEY_VAULT_REFERENCED = {
    "MANAGEMENT_TOKEN",
    "OPERATOR_TOKEN",
    "READER_TOKEN",
    "PLATFORM_API_TOKEN",
    "ALERT_WEBHOOK_URL",
}

# Flex Consumption does not accept these as app settings.
REJECTED_BY_FLEX = {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"}

SHARED_KEY_MARKERS = ("AccountKey=", "SharedAccessKey=", "listKeys(", "listConnectionStrings(")


# --- reading the templates -------------------------------------------------------------


@cache
def parse(path: Path) -> dict[str, Any]:
    tree: dict[str, Any] = dict(BicepParser().parse(file_path=path))
    return tree


def resources(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = parse(path).get("resources", {})
    return found


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The config of a resource or module, looking through `= if (...)`."""
    config: dict[str, Any] = declaration["config"]
    if set(config) == {"condition", "config"}:
        inner: dict[str, Any] = config["config"]
        return inner
    return config


def dotted(expression: Any) -> str:
    """`a.b.c` for a property-accessor tree, the plain string otherwise."""
    if isinstance(expression, dict) and "operator" in expression:
        operator = expression["operator"]
        if operator["type"] == "property_accessor":
            operands = operator["operands"]
            return f"{dotted(operands['operand_1'])}.{dotted(operands['operand_2'])}"
    return str(expression)


def module_params(path: str) -> dict[str, Any]:
    """The params main.bicep passes to the module at `path` (e.g. app/api.bicep)."""
    for module in parse(MAIN)["modules"].values():
        if module["detail"]["path"] == path:
            params: dict[str, Any] = body(module)["params"]
            return params
    raise AssertionError(f"main.bicep does not call {path}")


def main_parameter_default(name: str) -> Any:
    return parse(MAIN)["parameters"][name]["default"]


def parameters_file() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((INFRA / "main.parameters.json").read_text())
    parameters: dict[str, Any] = data["parameters"]
    return parameters


def function_app_files() -> list[Path]:
    return [
        path
        for path in bicep_files()
        if any(r["type"] == "Microsoft.Web/sites" for r in resources(path).values())
    ]


def function_app_settings() -> dict[str, Any]:
    """Name -> value expression of every app setting Bicep gives the Function App."""
    settings: dict[str, Any] = {}
    for path in function_app_files():
        tree = parse(path)
        for resource in tree["resources"].values():
            if resource["type"] == "Microsoft.Web/sites":
                listed = body(resource)["properties"]["siteConfig"]["appSettings"]
                # One list built from the appSettings object and the overrides parameter.
                source = listed["loop_type"]["detail"]["array_name"]["function"]
                assert source["type"] == "items"
                merged = source["parameters"]["arg_1"]["function"]
                assert merged["type"] == "union"
                assert list(merged["parameters"].values()) == ["appSettings", "appSettingOverrides"]
                settings.update(tree["variables"]["appSettings"]["value"])
            if resource["type"] == "Microsoft.Web/sites/config":
                config = body(resource)
                assert config["name"] != "appsettings", "set app settings in var appSettings"
    for name in parameters_file().get("appSettingOverrides", {}).get("value", {}):
        settings.setdefault(name, "override")
    return settings


# --- the templates parse and are shaped like the quickstarts ---------------------------


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path: Path) -> None:
    tree = parse(path)
    assert tree.get("resources") or tree.get("modules"), f"{path} declares nothing"


def test_there_is_one_function_app_and_it_reads_the_settings_object() -> None:
    assert [p.relative_to(INFRA).as_posix() for p in function_app_files()] == [API_MODULE]
    assert function_app_settings()


def test_main_outputs_are_upper_snake_for_azd() -> None:
    for name in parse(MAIN)["outputs"]:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name


def test_every_role_assignment_is_named_by_guid_and_says_which_role() -> None:
    found = 0
    for path in bicep_files():
        text = path.read_text()
        lines = text.splitlines()
        # `key: '<role definition id>' // <role name>` in the file's `roles` object.
        role_names = dict(re.findall(r"(\w+): '[0-9a-f-]{36}' // (.+)", text))
        for name, resource in resources(path).items():
            if resource["type"] != "Microsoft.Authorization/roleAssignments":
                continue
            found += 1
            config = body(resource)
            assert config["name"]["function"]["type"] == "guid", name
            definition = config["properties"]["roleDefinitionId"]["function"]["parameters"]
            role = role_names[dotted(definition["resource_name_1"]).removeprefix("roles.")]
            declaration = next(i for i, line in enumerate(lines) if f"resource {name} " in line)
            comment = "\n".join(lines[max(0, declaration - 3) : declaration])
            assert f"// {role}" in comment, f"{path.name}: say that {name} grants {role}"
    assert found >= 6


# --- settings: code, Bicep and the local sample agree -----------------------------------


def test_the_allow_lists_name_real_settings() -> None:
    app = setting_names()
    assert app >= LOCAL_ONLY
    assert app >= set(OPTIONAL)
    assert app >= KEY_VAULT_REFERENCED
    assert not app & RUNTIME_ONLY, "a runtime-only name is now read by the app: drop it here"


def test_every_setting_the_app_reads_is_set_in_azure_or_optional() -> None:
    missing = setting_names() - LOCAL_ONLY - set(function_app_settings()) - set(OPTIONAL)
    assert not missing, f"set these in infra/app/api.bicep (or allow-list why not): {missing}"


def test_bicep_sets_only_settings_someone_reads() -> None:
    unknown = set(function_app_settings()) - setting_names() - RUNTIME_ONLY
    assert not unknown, f"nothing reads these app settings: {unknown}"


def test_local_only_and_flex_rejected_settings_are_not_set_in_azure() -> None:
    assert not set(function_app_settings()) & (LOCAL_ONLY | REJECTED_BY_FLEX)


def test_local_sample_lists_every_setting_and_nothing_else() -> None:
    values = set(json.loads((ROOT / "local.settings.sample.json").read_text())["Values"])
    assert not values - setting_names() - RUNTIME_ONLY, "unknown names in the sample"
    missing = setting_names() - values
    assert not missing, f"add these to local.settings.sample.json Values: {sorted(missing)}"


def test_no_shared_key_or_connection_string_reaches_azure() -> None:
    for name, value in function_app_settings().items():
        text = json.dumps(value)
        assert not any(marker in text for marker in SHARED_KEY_MARKERS), name
    for path in bicep_files():
        text = path.read_text()
        assert not any(marker in text for marker in SHARED_KEY_MARKERS), path


def test_tokens_are_key_vault_references() -> None:
    tree = parse(INFRA / API_MODULE)
    prefix = tree["variables"]["keyVaultReferencePrefix"]["value"]
    assert prefix.startswith("@Microsoft.KeyVault(VaultName=")
    settings = function_app_settings()
    for name in KEY_VAULT_REFERENCED:
        value = settings[name]
        if isinstance(value, dict):  # ALERT_WEBHOOK_URL: a reference, or '' when not configured
            value = value["operator"]["operands"]["true_value"]
        assert value.startswith("${keyVaultReferencePrefix}"), name


def test_connections_are_identity_based() -> None:
    settings = function_app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["ServiceBusConnection__credential"] == "managedidentity"
    assert "AzureWebJobsStorage__accountName" in settings
    assert "ServiceBusConnection__fullyQualifiedNamespace" in settings


def test_overrides_in_the_parameters_file_name_real_settings() -> None:
    overrides = parameters_file().get("appSettingOverrides", {}).get("value", {})
    assert not set(overrides) - setting_names(), "appSettingOverrides names no setting"
    assert not set(overrides) & (LOCAL_ONLY | KEY_VAULT_REFERENCED)


# --- the queue: the one the code uses is the session-enabled one Bicep declares --------


def declared_queues() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, body(resource))
        for path in bicep_files()
        for resource in resources(path).values()
        if resource["type"] == "Microsoft.ServiceBus/namespaces/queues" and not resource["existing"]
    ]


def test_the_inbound_queue_has_sessions_and_duplicate_detection() -> None:
    queues = declared_queues()
    assert len(queues) == 1
    path, queue = queues[0]
    assert path.relative_to(INFRA).as_posix() == SERVICE_BUS_MODULE
    assert queue["properties"]["requiresSession"] is True
    assert queue["properties"]["requiresDuplicateDetection"] is True
    assert queue["properties"]["deadLetteringOnMessageExpiration"] is True


def test_the_queue_bicep_declares_is_the_one_the_app_uses() -> None:
    app_default = Settings.model_fields["queue_name"].default
    # Declared: servicebus.bicep names its queue after its queueName parameter, which
    # main.bicep fills from its serviceBusQueueName parameter.
    _, queue = declared_queues()[0]
    assert queue["name"] == "queueName"
    assert module_params(SERVICE_BUS_MODULE)["queueName"] == "serviceBusQueueName"
    assert main_parameter_default("serviceBusQueueName") == app_default
    overridden = parameters_file().get("serviceBusQueueName", {}).get("value", app_default)
    assert overridden == app_default
    # Used: the app setting is the queue's own name, passed on by main.bicep.
    assert function_app_settings()["SERVICEBUS_QUEUE_NAME"] == "serviceBusQueueName"
    assert (
        dotted(module_params(API_MODULE)["serviceBusQueueName"]) == "serviceBus.outputs.queueName"
    )
    outputs = parse(INFRA / SERVICE_BUS_MODULE)["outputs"]
    assert dotted(outputs["queueName"]["value"]) == "inboundQueue.name"
    # And locally.
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    assert sample["SERVICEBUS_QUEUE_NAME"] == app_default


def test_the_timer_schedule_default_matches_the_app() -> None:
    app_default = Settings.model_fields["retry_scan_schedule"].default
    assert main_parameter_default("retryScanSchedule") == app_default
    assert function_app_settings()["RETRY_SCAN_SCHEDULE"] == "retryScanSchedule"


# --- function_app.py: every binding it declares resolves in Azure ------------------------


def trigger_arguments() -> list[tuple[str, dict[str, Any]]]:
    """(decorator, keyword arguments) of every trigger in function_app.py."""
    path = ROOT / "function_app.py"
    if not path.exists():
        pytest.skip("function_app.py is not written yet")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr.endswith("_trigger")
        ):
            kwargs = {
                k.arg: k.value.value
                for k in node.keywords
                if k.arg and isinstance(k.value, ast.Constant)
            }
            found.append((node.func.attr, kwargs))
    return found


def test_service_bus_triggers_use_the_session_queue_and_an_identity_connection() -> None:
    settings = function_app_settings()
    triggers = [kw for name, kw in trigger_arguments() if name == "service_bus_queue_trigger"]
    assert triggers, "function_app.py declares no Service Bus trigger"
    queue = "%SERVICEBUS_QUEUE_NAME%"
    assert any(kw.get("queue_name") == queue and kw.get("is_sessions_enabled") for kw in triggers)
    for kw in triggers:
        assert kw["queue_name"] in (queue, f"{queue}/$deadletterqueue")
        assert f"{kw['connection']}__fullyQualifiedNamespace" in settings


def test_every_binding_expression_resolves_to_a_setting_bicep_sets() -> None:
    settings = function_app_settings()
    for name, kwargs in trigger_arguments():
        for value in kwargs.values():
            for setting in re.findall(r"%([^%]+)%", str(value)):
                assert setting in settings, f"{name}: %{setting}% is not set in Azure"


# --- host.json agrees with the app and the queue -----------------------------------------


def seconds(timespan: str) -> int:
    hours, minutes, secs = (int(part) for part in timespan.split(":"))
    return hours * 3600 + minutes * 60 + secs


def test_host_json_matches_the_routes_and_the_queue() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    assert host["extensions"]["http"]["routePrefix"] == ""
    bus = host["extensions"]["serviceBus"]
    timeout = seconds(host["functionTimeout"])
    # The lock is renewed for as long as an invocation may run, so a slow event is
    # never delivered twice at once.
    assert seconds(bus["maxAutoLockRenewalDuration"]) >= timeout
    # The timer recovers a "processing" event only after its invocation is surely dead.
    assert timeout < Settings.model_fields["processing_lease_seconds"].default
    assert bus["prefetchCount"] == 0  # prefetched session messages would sit locked


def test_bicep_creates_every_table_the_app_uses() -> None:
    """The tables Bicep pre-creates are exactly the ones the storage adapters use."""
    from shared.adapters.azure_storage import TABLES

    main = (ROOT / "infra" / "main.bicep").read_text()
    block = main[main.index("var tableNames = [") : main.index("]", main.index("var tableNames"))]
    declared = set(re.findall(r"'([a-z]+)'", block))
    assert declared == set(TABLES)
