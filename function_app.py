"""The Functions of the Integrations API (Python v2 model). Declarations only.

Each body turns its trigger input into one call on the core (`shared`) and its
answer back into a response; the core does the rest.
"""

from __future__ import annotations

import azure.functions as func

from shared.api import http_api
from shared.bootstrap import container

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _request(req: func.HttpRequest) -> http_api.ApiRequest:
    return http_api.ApiRequest(
        method=req.method.upper(),
        headers={name.lower(): value for name, value in req.headers.items()},
        body=req.get_body() or b"",
        route_params=dict(req.route_params),
        query=dict(req.params),
    )


async def _serve(route: str, req: func.HttpRequest) -> func.HttpResponse:
    """Answer with the route declared as `route` (the same template as its decorator)."""
    answer = await http_api.serve(container(), route, _request(req))
    if isinstance(answer.body, str | bytes):
        return func.HttpResponse(answer.body, status_code=answer.status, headers=answer.headers)
    return func.HttpResponse(
        answer.json_bytes(),
        status_code=answer.status,
        headers=answer.headers,
        mimetype="application/json",
    )


# --- inbound ----------------------------------------------------------------------
@app.route(route="integrations/custom/inbound", methods=["POST"])
async def inbound(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("integrations/custom/inbound", req)


@app.route(route="integrations/custom/events/{messageId}", methods=["GET"])
async def sent_message(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("integrations/custom/events/{messageId}", req)


# --- management -------------------------------------------------------------------
@app.route(route="v1/integrations", methods=["GET", "POST"])
async def integrations(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations", req)


@app.route(route="v1/integrations/{id}", methods=["GET", "PATCH"])
async def integration(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/{id}", req)


@app.route(route="v1/integrations/{id}/regenerate-key", methods=["POST"])
async def regenerate_key(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/{id}/regenerate-key", req)


@app.route(route="v1/integrations/{id}/events/{eventId}/retry", methods=["POST"])
async def retry_event(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/{id}/events/{eventId}/retry", req)


@app.route(route="v1/integrations/{id}/events/retry", methods=["POST"])
async def bulk_retry(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/{id}/events/retry", req)


@app.route(route="v1/integrations/{id}/jobs/{jobId}", methods=["GET"])
async def job(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/{id}/jobs/{jobId}", req)


@app.route(route="v1/integrations/{id}/jobs/{jobId}/cancel", methods=["POST"])
async def cancel_job(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/{id}/jobs/{jobId}/cancel", req)


# --- read-only view ---------------------------------------------------------------
@app.route(route="v1/integrations/events/filter", methods=["POST"])
async def filter_events(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/events/filter", req)


@app.route(route="v1/integrations/events/counts", methods=["POST"])
async def count_events(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/events/counts", req)


@app.route(route="v1/integrations/events/flow", methods=["POST"])
async def event_flow(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/events/flow", req)


@app.route(route="v1/integrations/{id}/events/{eventId}", methods=["GET"])
async def event_detail(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/{id}/events/{eventId}", req)


@app.route(route="v1/integrations/{id}/audit", methods=["GET"])
async def audit(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/integrations/{id}/audit", req)


@app.route(route="v1/me", methods=["GET"])
async def me(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/me", req)


@app.route(route="v1/retention", methods=["GET"])
async def retention(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/retention", req)


@app.route(route="v1/tokens", methods=["GET", "POST"])
async def tokens(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/tokens", req)


@app.route(route="v1/tokens/{tokenId}", methods=["DELETE"])
async def token(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/tokens/{tokenId}", req)


@app.route(route="v1/privacy/erase", methods=["POST"])
async def erase(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/privacy/erase", req)


@app.route(route="v1/audit", methods=["GET"])
async def account_audit(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("v1/audit", req)


@app.route(route="health", methods=["GET"])
async def health(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("health", req)


# --- queue worker, dead letters, timer ----------------------------------------------
@app.service_bus_queue_trigger(
    arg_name="msg",
    queue_name="%SERVICEBUS_QUEUE_NAME%",
    connection="ServiceBusConnection",
    is_sessions_enabled=True,
)
async def process_event(msg: func.ServiceBusMessage) -> None:
    await container().worker.handle(msg.get_body(), msg.application_properties)


@app.service_bus_queue_trigger(
    arg_name="msg",
    queue_name="%SERVICEBUS_QUEUE_NAME%/$deadletterqueue",
    connection="ServiceBusConnection",
)
async def dead_lettered_event(msg: func.ServiceBusMessage) -> None:
    # The queue's reason is in the application properties (extension 5.x passes no
    # DeadLetterReason metadata); the message's own fields are only a fallback.
    await container().dead_letters.handle(
        msg.get_body(),
        msg.application_properties,
        msg.message_id,
        reason=msg.dead_letter_reason,
        description=msg.dead_letter_error_description,
    )


@app.timer_trigger(arg_name="timer", schedule="%RETRY_SCAN_SCHEDULE%", run_on_startup=False)
async def maintenance(timer: func.TimerRequest) -> None:
    services = container()
    await services.recovery.run_once()
    await services.resubmission.advance_all()
    await services.retention.run_once()


# --- operations page and API description --------------------------------------------
@app.route(route="dashboard", methods=["GET"])
async def dashboard(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("dashboard", req)


@app.route(route="dashboard/{file}", methods=["GET"])
async def dashboard_file(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("dashboard/{file}", req)


@app.route(route="openapi.json", methods=["GET"])
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return await _serve("openapi.json", req)
