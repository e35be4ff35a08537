"""`events show`: one event in plain words, its attempts as a timeline, its payload."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from integrations_cli.render import status_text, when


def plain_words(event: dict[str, Any]) -> Text:
    """What happened and what a person can do about it."""
    status, error = event.get("status"), event.get("lastError") or {}
    attempts, message = event.get("attempts", 0), str(error.get("message") or "")
    if status == "success":
        result = json.dumps(event.get("result") or {}, ensure_ascii=False)
        return Text(f"Applied to the platform after {attempts} attempt(s). Records: {result}")
    if status == "queued":
        return Text("Waiting in the queue to be processed.")
    if status == "processing":
        return Text("Being processed right now.")
    if status == "skipped":
        reason = event.get("skippedReason") or "a newer event for the same entity was applied"
        return Text(f"Skipped: {reason}. Nothing to do.", style="yellow")
    text = Text(message or "Failed.", style="bold red")
    advice = event.get("advice") or {}
    if advice:
        http = f" ({advice['http']})" if advice.get("http") else ""
        text.append(f"\n{advice['headline']}{http}. {advice['todo']}", style="default")
        if event.get("nextRetryAt") and advice.get("kind") == "transient":
            text.append(f" Next attempt: {when(event['nextRetryAt'])}.", style="default")
    if event.get("deadLettered"):
        text.append("\nThe message was dead-lettered by the queue.", style="yellow")
    return text


def _duration_ms(attempt: dict[str, Any]) -> str:
    try:
        start = datetime.fromisoformat(str(attempt["startedAt"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(attempt["finishedAt"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return ""
    return f"{(end - start).total_seconds() * 1000:.0f} ms"


def timeline(attempts: list[dict[str, Any]]) -> Table:
    table = Table(title="Attempts", title_justify="left", expand=False)
    for name in ("#", "Started", "Took", "Outcome", "Platform calls", "Error"):
        table.add_column(name, no_wrap=name in ("#", "Started", "Took"))
    for attempt in attempts:
        calls = []
        for call in attempt.get("calls") or []:
            answer = call.get("status") or call.get("error") or "no answer"
            path = urlsplit(str(call.get("url", ""))).path
            calls.append(
                f"{call.get('method')} {path} → {answer} ({call.get('durationMs', 0):.0f} ms)"
            )
        error = attempt.get("error") or {}
        table.add_row(
            str(attempt.get("attempt", "")),
            when(attempt.get("startedAt")),
            _duration_ms(attempt),
            status_text(str(attempt.get("outcome", ""))),
            "\n".join(calls),
            Text(str(error.get("message") or ""), style="red"),
        )
    return table


def facts(event: dict[str, Any]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    attempts = f"{event.get('attempts', 0)} of {event.get('maxAttempts', '?')}"
    rows: list[tuple[str, str | Text]] = [
        ("Event", event["id"]),
        ("Action", event.get("action", "")),
        ("Entity", event.get("entityId") or "—"),
        ("Status", status_text(event.get("status", ""))),
        ("Attempts", attempts),
        ("Next retry", when(event.get("nextRetryAt"))),
        ("Resubmitted", str(event.get("resubmissions", 0))),
        ("Created", when(event.get("createdAt"))),
        ("Updated", when(event.get("updatedAt"))),
    ]
    if event.get("idempotencyKey"):
        rows.append(("Idempotency-Key", event["idempotencyKey"]))
    for name, value in rows:
        grid.add_row(name, value)
    return grid


def show_event(console: Console, event: dict[str, Any]) -> None:
    console.print(Panel(Group(facts(event), Text(""), plain_words(event)), title="Event"))
    attempts = event.get("attemptLog") or []
    if attempts:
        console.print(timeline(attempts))
    else:
        console.print(Text("No attempts yet.", style="dim"))
    console.print(Text("Payload (personal data masked)", style="bold"))
    console.print_json(data=event.get("payload"))
