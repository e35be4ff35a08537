"""Flex Consumption can scale the app the way docs/deploy.md#scaling says it does.

Read from the Bicep (parsed with pycep-parser, like the drift test) and from
function_app.py and host.json:

- the identity the Service Bus triggers connect with holds Azure Service Bus Data
  Owner on the inbound queue, so target-based scaling can read the queue's message
  counts (the Manage right);
- the queue worker (`process_event`) keeps an always-ready instance, under the name
  Flex gives a Python v2 function (`function:<def name>`);
- HTTP per-instance concurrency is set, above Flex's Python default of 1, and every
  HTTP function is async so one instance can serve that many at once;
- `maximumInstanceCount` leaves room above the always-ready instances and keeps the
  platform API's worst-case load where the docs put it.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from tests.unit.test_infra_drift import (
    API_MODULE,
    INFRA,
    MAIN,
    ROOT,
    body,
    dotted,
    function_app_settings,
    main_parameter_default,
    module_params,
    parse,
    resources,
)

RBAC_MODULE = "app/rbac.bicep"
SERVICE_BUS_DATA_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"  # Azure Service Bus Data Owner
FLEX_PYTHON_DEFAULT_HTTP_CONCURRENCY = 1


def scale_and_concurrency() -> dict[str, Any]:
    for resource in resources(INFRA / API_MODULE).values():
        if resource["type"] == "Microsoft.Web/sites":
            config: dict[str, Any] = body(resource)["properties"]["functionAppConfig"]
            scale: dict[str, Any] = config["scaleAndConcurrency"]
            return scale
    raise AssertionError(f"{API_MODULE} declares no Function App")


def resolve(template: str, variables: dict[str, Any]) -> str:
    """Fill `${name}` in a Bicep string from the file's variables."""
    return re.sub(r"\$\{(\w+)\}", lambda m: str(variables[m.group(1)]["value"]), template)


def role_assignments(path: str, role_key: str) -> list[dict[str, Any]]:
    found = []
    for resource in resources(INFRA / path).values():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        config = body(resource)
        definition = config["properties"]["roleDefinitionId"]["function"]["parameters"]
        if dotted(definition["resource_name_1"]) == f"roles.{role_key}":
            found.append(config)
    return found


def decorated_functions() -> list[tuple[ast.AsyncFunctionDef | ast.FunctionDef, list[ast.Call]]]:
    """Every function in function_app.py with the decorator calls on it."""
    tree = ast.parse((ROOT / "function_app.py").read_text())
    return [
        (node, [d for d in node.decorator_list if isinstance(d, ast.Call)])
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def decorator_name(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else ""


def keyword(call: ast.Call, name: str) -> Any:
    for kw in call.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


# --- target-based scaling of the Service Bus triggers -----------------------------------


def test_the_trigger_identity_holds_service_bus_data_owner_on_the_inbound_queue() -> None:
    rbac = parse(INFRA / RBAC_MODULE)
    roles = rbac["variables"]["roles"]["value"]
    owner_keys = [key for key, value in roles.items() if value == SERVICE_BUS_DATA_OWNER]
    assert owner_keys, "rbac.bicep does not know the Azure Service Bus Data Owner role"
    assignments = role_assignments(RBAC_MODULE, owner_keys[0])
    assert len(assignments) == 1, "grant Azure Service Bus Data Owner once, to the app"
    owner = assignments[0]
    assert owner["name"]["function"]["type"] == "guid"
    assert owner["properties"]["principalId"] == "identityPrincipalId"
    assert owner["properties"]["principalType"] == "ServicePrincipal"
    # On the queue both Service Bus triggers read (the worker and its $deadletterqueue twin).
    queue = resources(INFRA / RBAC_MODULE)[owner["scope"]]
    assert queue["type"] == "Microsoft.ServiceBus/namespaces/queues"
    assert queue["config"]["name"] == "serviceBusQueueName"
    assert dotted(module_params(RBAC_MODULE)["serviceBusQueueName"]) == (
        "serviceBus.outputs.queueName"
    )


def test_the_identity_with_data_owner_is_the_one_the_triggers_connect_with() -> None:
    # rbac gets the identity's principal id, the app runs as that identity and its Service
    # Bus connection names the same identity's client id.
    assert dotted(module_params(RBAC_MODULE)["identityPrincipalId"]) == (
        "identity.outputs.principalId"
    )
    api = module_params(API_MODULE)
    assert dotted(api["identityId"]) == "identity.outputs.id"
    assert dotted(api["identityClientId"]) == "identity.outputs.clientId"
    settings = function_app_settings()
    assert settings["ServiceBusConnection__credential"] == "managedidentity"
    assert settings["ServiceBusConnection__clientId"] == "identityClientId"
    # The app starts after its roles exist.
    api_module = next(
        m for m in parse(MAIN)["modules"].values() if m["detail"]["path"] == API_MODULE
    )
    assert "rbac" in api_module["config"]["dependsOn"]


# --- always ready: the queue worker ------------------------------------------------------


def session_worker_name() -> str:
    """The Python name of the session-enabled Service Bus trigger in function_app.py."""
    names = []
    for function, calls in decorated_functions():
        renamed = [keyword(c, "name") for c in calls if decorator_name(c) == "function_name"]
        for call in calls:
            if decorator_name(call) == "service_bus_queue_trigger" and keyword(
                call, "is_sessions_enabled"
            ):
                names.append(renamed[0] if renamed else function.name)
    assert len(names) == 1, "expected one session-enabled Service Bus trigger"
    return names[0]


def test_the_queue_worker_keeps_an_always_ready_instance() -> None:
    variables = parse(INFRA / API_MODULE)["variables"]
    always_ready = scale_and_concurrency()["alwaysReady"]
    names = [resolve(entry["name"], variables) for entry in always_ready]
    # Flex names one function `function:<name>`; a Python v2 function is named after its def.
    assert names == [f"function:{session_worker_name()}"]
    assert always_ready[0]["instanceCount"] == "workerAlwaysReadyInstances"
    assert module_params(API_MODULE)["workerAlwaysReadyInstances"] == "workerAlwaysReadyInstances"
    assert main_parameter_default("workerAlwaysReadyInstances") == 1


# --- HTTP concurrency ---------------------------------------------------------------------


def test_http_per_instance_concurrency_is_set_above_the_python_default() -> None:
    http = scale_and_concurrency()["triggers"]["http"]
    assert http["perInstanceConcurrency"] == "httpPerInstanceConcurrency"
    assert module_params(API_MODULE)["httpPerInstanceConcurrency"] == "httpPerInstanceConcurrency"
    assert main_parameter_default("httpPerInstanceConcurrency") > (
        FLEX_PYTHON_DEFAULT_HTTP_CONCURRENCY
    )


def test_every_http_function_is_async_so_an_instance_can_serve_several() -> None:
    routes = [
        function
        for function, calls in decorated_functions()
        if any(decorator_name(c) == "route" for c in calls)
    ]
    assert routes
    blocking = [f.name for f in routes if not isinstance(f, ast.AsyncFunctionDef)]
    assert not blocking, f"a sync HTTP function blocks its worker: {blocking}"


# --- maximumInstanceCount ------------------------------------------------------------------


def test_maximum_instance_count_is_a_reasoned_parameter() -> None:
    scale = scale_and_concurrency()
    assert scale["maximumInstanceCount"] == "maximumInstanceCount"
    assert module_params(API_MODULE)["maximumInstanceCount"] == "maximumInstanceCount"
    maximum = main_parameter_default("maximumInstanceCount")
    # Room to scale beyond the warm instances, within what Flex accepts.
    assert main_parameter_default("workerAlwaysReadyInstances") < maximum <= 1000
    # docs/deploy.md states the worst-case platform load this cap allows.
    sessions = json.loads((ROOT / "host.json").read_text())["extensions"]["serviceBus"][
        "maxConcurrentSessions"
    ]
    docs = (ROOT / "docs" / "deploy.md").read_text()
    assert f"{sessions} × {maximum}" in docs
