"""How things look: times, statuses and tables for people; plain JSON for machines."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "queued": "cyan",
    "processing": "blue",
    "success": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "running": "cyan",
    "completed": "green",
    "cancelled": "yellow",
}
DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def print_json(data: Any) -> None:
    """Machine output: exactly the API's JSON, on stdout, no colours."""
    print(json.dumps(data, indent=2, ensure_ascii=False))


def when(value: str | None) -> str:
    """`2025-05-01T10:00:00.000Z` as `2025-05-01 10:00:00Z`; a dash for none."""
    if not value:
        return "—"
    return value.replace("T", " ").split(".")[0].removesuffix("Z") + "Z"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`90s`, `15m`, `1h`, `2d`, `1w` ago, or an ISO 8601 time."""
    match = DURATION.match(text.strip().lower())
    if match:
        delta = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"'{text}' is neither a duration (15m, 1h, 2d) nor an ISO time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def short_error(event: dict[str, Any], width: int = 90) -> str:
    error = event.get("lastError") or {}
    message = str(error.get("message") or event.get("skippedReason") or "")
    return message if len(message) <= width else message[: width - 1] + "…"


def integrations_table(items: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(items)} integration(s)", title_justify="left")
    table.add_column("Id", no_wrap=True, overflow="fold")
    table.add_column("Name")
    table.add_column("Enabled")
    table.add_column("Ordering")
    table.add_column("Key", no_wrap=True)
    table.add_column("Created", no_wrap=True)
    for item in items:
        enabled = Text("yes", "green") if item.get("enabled") else Text("no", "bold red")
        table.add_row(
            item["id"],
            item.get("name", ""),
            enabled,
            item.get("orderingScope", ""),
            item.get("apiKeyHint", ""),
            when(item.get("createdAt")),
        )
    return table


# Event table columns in display order; KEEP says which survive a narrow terminal first.
EVENT_COLUMNS: dict[str, Callable[[dict[str, Any]], str]] = {
    "Created": lambda e: when(e.get("createdAt")),
    "Event": lambda e: str(e["id"]),
    "Action": lambda e: str(e.get("action", "")),
    "Entity": lambda e: str(e.get("entityId") or ""),
    "Status": lambda e: str(e.get("status", "")),
    "Tries": lambda e: f"{e.get('attempts', 0)}/{e.get('maxAttempts', '?')}",
}
KEEP = ("Event", "Status", "Action", "Created", "Tries", "Entity")
GAP, EDGES, MIN_ERROR = 3, 2, 16


def events_table(events: list[dict[str, Any]], title: str, width: int) -> Table:
    """Whole ids always; columns dropped (least useful first) rather than cut when the
    terminal is narrow; the last error gets whatever width is left."""
    cells = {name: [value(e) for e in events] for name, value in EVENT_COLUMNS.items()}
    sizes = {name: max([len(name), *map(len, values)]) for name, values in cells.items()}
    shown: list[str] = []
    for name in KEEP:
        if sum(sizes[n] for n in [*shown, name]) + GAP * len(shown) + EDGES <= width:
            shown.append(name)
    used = sum(sizes[n] for n in shown) + GAP * len(shown) + EDGES
    room = width - used - 1
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    columns = [name for name in EVENT_COLUMNS if name in shown]
    for name in columns:
        table.add_column(name, no_wrap=True, justify="right" if name == "Tries" else "left")
    if room >= MIN_ERROR:
        table.add_column("Last error", no_wrap=True)
    for index, event in enumerate(events):
        row: list[str | Text] = [
            status_text(cells[n][index]) if n == "Status" else cells[n][index] for n in columns
        ]
        if room >= MIN_ERROR:
            row.append(Text(short_error(event, room), style="red"))
        table.add_row(*row)
    return table


def event_line(event: dict[str, Any], marker: str) -> Text:
    """One line per event for `events tail`."""
    line = Text(f"{marker} ", style="dim")
    line.append(when(event.get("updatedAt") or event.get("createdAt")), style="dim")
    line.append("  ")
    line.append(f"{event.get('status', ''):<10}", style=STATUS_STYLE.get(event.get("status", "")))
    line.append(f" {event.get('action', '')}")
    if event.get("entityId"):
        line.append(f" {event['entityId']}", style="bold")
    line.append(f"  {event['id']}", style="dim")
    line.append(f"  {event.get('attempts', 0)}/{event.get('maxAttempts', '?')}", style="dim")
    error = short_error(event, 120)
    if error:
        line.append(f"  {error}", style="red")
    return line
