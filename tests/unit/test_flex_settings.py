"""The Function App's settings are ones Flex Consumption accepts and uses.

Flex Consumption moved runtime, scale and deployment into `functionAppConfig` and lists
the app settings and site properties it no longer takes ("Flex Consumption plan
deprecations", functions-app-settings); some are ignored, some make ARM reject the
deployment. docs/deploy.md#settings-checked-against-flex-consumption goes through each
value the templates and host.json set. Templates are read with pycep, as in
test_infra_drift.py. Example of what fails here::

    # infra/app/api.bicep
    var appSettings = {
      FUNCTIONS_WORKER_RUNTIME: 'python'   # Flex: replaced by functionAppConfig.runtime
    }
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.config import Settings
from tests.unit.test_infra_drift import (
    API_MODULE,
    INFRA,
    ROOT,
    body,
    function_app_settings,
    parse,
    trigger_arguments,
)

DEPRECATIONS = "https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations"
CONSIDERATIONS = (
    "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations"
)

# App settings Flex Consumption does not take, with what the documentation says instead.
FLEX_APP_SETTINGS = {
    "ENABLE_ORYX_BUILD": "replaced by the remoteBuild deployment parameter",
    "FUNCTIONS_EXTENSION_VERSION": "set by the backend",
    "FUNCTIONS_WORKER_RUNTIME": "replaced by functionAppConfig.runtime.name",
    "FUNCTIONS_WORKER_RUNTIME_VERSION": "replaced by functionAppConfig.runtime.version",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY": "replaced by scaleAndConcurrency.triggers.http",
    "FUNCTIONS_WORKER_PROCESS_COUNT": "not valid",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED": "not valid",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "replaced by the remoteBuild deployment parameter",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "replaced by functionAppConfig.deployment",
    "WEBSITE_CONTENTOVERVNET": "not used for networking",
    "WEBSITE_CONTENTSHARE": "replaced by functionAppConfig.deployment",
    "WEBSITE_DNS_SERVER": "DNS comes from the integrated virtual network",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "replaced by maximumInstanceCount",
    "WEBSITE_NODE_DEFAULT_VERSION": "replaced by functionAppConfig.runtime.version",
    "WEBSITE_RUN_FROM_PACKAGE": "not used for deployments",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION": "no content share",
    "WEBSITE_VNET_ROUTE_ALL": "not used for networking",
    # flex-consumption-plan#considerations
    "WEBSITE_TIME_ZONE": "not supported (timers run in UTC)",
    "TZ": "not supported (timers run in UTC)",
    "WEBSITE_LOAD_CERTIFICATES": "not supported",
}

# Site properties in the same table (names as Bicep writes them, any case).
FLEX_SITE_PROPERTIES = {
    "alwaysOn",
    "containerSize",
    "ftpsState",
    "functionAppScaleLimit",
    "functionsRuntimeScaleMonitoringEnabled",
    "isReserved",
    "isXenon",
    "javaVersion",
    "linuxFxVersion",
    "netFrameworkVersion",
    "powerShellVersion",
    "preWarmedInstanceCount",
    "use32BitWorkerProcess",
    "vnetBackupRestoreEnabled",
    "vnetContentShareEnabled",
    "vnetImagePullEnabled",
    "vnetRouteAllEnabled",
    "windowsFxVersion",
}

# Not a Flex rule but the product's: the Python worker would call configure_azure_monitor
# itself, a second OpenTelemetry pipeline beside shared/observability.py's (every span and
# line twice, unsampled).
SECOND_TELEMETRY_PIPELINE = {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"}

# Service Bus host.json options that only apply to triggers receiving batches.
BATCH_ONLY = {"maxMessageBatchSize", "minMessageBatchSize", "maxBatchWaitTime"}


def site() -> dict[str, Any]:
    for resource in parse(INFRA / API_MODULE)["resources"].values():
        if resource["type"] == "Microsoft.Web/sites":
            found: dict[str, Any] = body(resource)["properties"]
            return found
    raise AssertionError("api.bicep declares no Function App")


def site_property_names() -> set[str]:
    properties = site()
    return {name.lower() for name in set(properties) | set(properties["siteConfig"])}


def host_json() -> dict[str, Any]:
    host: dict[str, Any] = json.loads((ROOT / "host.json").read_text())
    return host


def test_no_app_setting_is_one_flex_rejects_or_ignores() -> None:
    # App setting names are case-insensitive in Azure.
    names = {name.upper() for name in function_app_settings()}
    found = sorted(names & set(FLEX_APP_SETTINGS))
    assert not found, f"Flex Consumption does not take {found} ({DEPRECATIONS}, {CONSIDERATIONS})"


def test_no_app_setting_starts_a_second_telemetry_pipeline() -> None:
    names = {name.upper() for name in function_app_settings()}
    assert not names & SECOND_TELEMETRY_PIPELINE


def test_no_site_property_flex_rejects_other_than_ftps_state() -> None:
    flagged = {name.lower() for name in FLEX_SITE_PROPERTIES}
    found = site_property_names() & flagged
    assert found <= {"ftpsstate"}, f"Flex Consumption does not take {sorted(found)}"


def test_ftps_state_is_not_set() -> None:
    assert "ftpsstate" not in site_property_names()


def test_the_runtime_is_set_where_flex_reads_it() -> None:
    runtime = site()["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "3.11"}


def test_the_extension_bundle_is_one_flex_supports() -> None:
    # "Non-C# function apps must use version [4.0.0, 5.0.0) of the extension bundle, or a
    # later version" (flex-consumption-plan#considerations).
    version = host_json()["extensionBundle"]["version"]
    lowest = re.match(r"\[(\d+)", version)
    assert lowest is not None and int(lowest.group(1)) >= 4


def test_service_bus_options_apply_to_the_triggers_declared() -> None:
    bus = host_json()["extensions"]["serviceBus"]
    triggers = [kw for name, kw in trigger_arguments() if name == "service_bus_queue_trigger"]
    sessions = [kw for kw in triggers if kw.get("is_sessions_enabled")]
    plain = [kw for kw in triggers if not kw.get("is_sessions_enabled")]
    batched = [kw for kw in triggers if kw.get("cardinality") in ("many", "MANY")]
    # maxConcurrentSessions is read only for session triggers, maxConcurrentCalls only for
    # the others (functions-bindings-service-bus#hostjson-settings).
    assert ("maxConcurrentSessions" in bus) == bool(sessions)
    assert ("maxConcurrentCalls" in bus) == bool(plain)
    assert not (set(bus) & BATCH_ONLY) or batched


def test_the_host_does_not_store_the_products_log_lines_again() -> None:
    # The product's lines reach Application Insights through OpenTelemetry only
    # (shared/observability.py); the host keeps invocations and warnings.
    levels = host_json()["logging"]["logLevel"]
    order = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"]
    assert order.index(levels["Function"]) >= order.index("Warning")
    assert levels["Host.Results"] == "Information"  # the requests table and its alert
    assert host_json().get("telemetryMode", "ApplicationInsights") != "OpenTelemetry"


def test_the_sampling_ratio_in_azure_is_the_products_default() -> None:
    deployed = function_app_settings()["TELEMETRY_SAMPLING_RATIO"]
    assert float(deployed) == Settings.model_fields["telemetry_sampling_ratio"].default
