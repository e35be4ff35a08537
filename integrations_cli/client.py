"""The Integrations API as the CLI uses it: one httpx client; every failure an ApiError
carrying the API's own sentence and the exit status it maps to."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:7071"


class CliError(Exception):
    """Something to tell the person in red; `exit_code` is the process's exit status."""

    def __init__(self, message: str, exit_code: int = 2, details: list[str] | None = None):
        super().__init__(message)
        self.message, self.exit_code, self.details = message, exit_code, details or []


class ApiError(CliError):
    """The API refused (4xx: exit 2) or could not answer (5xx or no connection: exit 3)."""

    def __init__(self, status: int | None, message: str, details: list[str] | None = None):
        client_error = status is not None and 400 <= status < 500
        super().__init__(message, 2 if client_error else 3, details)
        self.status = status


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None
    timeout: float = 30.0


def settings_from(url: str | None, token: str | None) -> Settings:
    """Flags first, then INTEGRATIONS_API_URL / INTEGRATIONS_TOKEN (or MANAGEMENT_TOKEN)."""
    env = os.environ
    return Settings(
        url=(url or env.get("INTEGRATIONS_API_URL") or DEFAULT_URL).rstrip("/"),
        token=token or env.get("INTEGRATIONS_TOKEN") or env.get("MANAGEMENT_TOKEN") or None,
    )


def error_from(answer: httpx.Response) -> ApiError:
    """The API's `{"error","message","details"}` as an ApiError (any body is tolerated)."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        details = [
            f"{item.get('path', '?')}: {item.get('message', '')}"
            for item in body.get("details") or []
            if isinstance(item, dict)
        ]
        return ApiError(answer.status_code, str(body["message"]), details)
    text = answer.text.strip()[:300] or answer.reason_phrase
    return ApiError(answer.status_code, f"The API answered {answer.status_code}: {text}")


def seg(value: str) -> str:
    """One path segment, escaped."""
    return quote(value, safe="")


class Api:
    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None):
        if not settings.token:
            raise CliError(
                "No management token: pass --token or set INTEGRATIONS_TOKEN (or MANAGEMENT_TOKEN)."
            )
        headers = {"Authorization": f"Bearer {settings.token}", "User-Agent": "integrations-cli"}
        self.url = settings.url
        self._http = httpx.Client(
            base_url=settings.url, headers=headers, timeout=settings.timeout, transport=transport
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            answer = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            message = f"Cannot reach the Integrations API at {self.url}: {reason}"
            raise ApiError(None, message) from exc
        if answer.status_code >= 400:
            raise error_from(answer)
        return answer.json() if answer.content else None

    # --- integrations -------------------------------------------------------------------
    def integrations(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/v1/integrations")["integrations"])

    def integration(self, integration_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/integrations/{seg(integration_id)}"))

    def create_integration(self, name: str, ordering: str) -> dict[str, Any]:
        body = {"service": "custom", "enabled": True, "name": name, "orderingScope": ordering}
        return dict(self.call("POST", "/v1/integrations/", body))

    def change_integration(self, integration_id: str, change: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("PATCH", f"/v1/integrations/{seg(integration_id)}", change))

    def regenerate_key(self, integration_id: str, grace_seconds: int = 0) -> dict[str, Any]:
        path = f"/v1/integrations/{seg(integration_id)}/regenerate-key"
        return dict(self.call("POST", path, {"graceSeconds": grace_seconds}))

    # --- events ---------------------------------------------------------------------------
    def filter_events(self, query: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/v1/integrations/events/filter", query))

    def event(self, integration_id: str, event_id: str) -> dict[str, Any]:
        path = f"/v1/integrations/{seg(integration_id)}/events/{seg(event_id)}"
        return dict(self.call("GET", path))

    def count_events(self, integration_id: str, since: str | None = None) -> dict[str, Any]:
        query = {"integrationId": integration_id, **({"from": since} if since else {})}
        return dict(self.call("POST", "/v1/integrations/events/counts", query))

    def retry_event(self, integration_id: str, event_id: str) -> dict[str, Any]:
        path = f"/v1/integrations/{seg(integration_id)}/events/{seg(event_id)}/retry"
        return dict(self.call("POST", path))

    # --- bulk resubmission jobs -------------------------------------------------------------
    def start_bulk_retry(self, integration_id: str, query: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/integrations/{seg(integration_id)}/events/retry"
        return dict(self.call("POST", path, query))

    def job(self, integration_id: str, job_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/integrations/{seg(integration_id)}/jobs/{seg(job_id)}"))

    def cancel_job(self, integration_id: str, job_id: str) -> dict[str, Any]:
        path = f"/v1/integrations/{seg(integration_id)}/jobs/{seg(job_id)}/cancel"
        return dict(self.call("POST", path))

    # --- named management tokens ---------------------------------------------------------
    def create_token(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/v1/tokens", body))

    def tokens(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/v1/tokens")["tokens"])

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return dict(self.call("DELETE", f"/v1/tokens/{seg(token_id)}"))
