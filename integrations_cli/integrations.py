"""`integrations create | list | show | enable | disable | rotate-key`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text

from integrations_cli.context import Context
from integrations_cli.render import integrations_table, iso, print_json, status_text, when

KEY_WARNING = (
    "Store this key now (e.g. in your secret store): it is shown only once and cannot be "
    "read back. If it is lost, rotate it with `integrations rotate-key {id}`."
)


def _print_key(ctx: Context, integration_id: str, key: str) -> None:
    ctx.out.print("API key:")
    ctx.out.print(Text(key, style="bold green"), soft_wrap=True)
    ctx.out.print(Text("⚠ " + KEY_WARNING.format(id=integration_id), style="yellow"))


def create(ctx: Context, args: argparse.Namespace) -> int:
    created = ctx.api.create_integration(args.name, args.ordering)
    if args.json:
        print_json(created)
        return 0
    line = Text("Created integration ")
    line.append(created["id"], style="bold")
    line.append(f" ({created['name']}, ordered per {created['orderingScope']})")
    ctx.out.print(line)
    _print_key(ctx, created["id"], created["apiKey"])
    return 0


def list_(ctx: Context, args: argparse.Namespace) -> int:
    items = ctx.api.integrations()
    if args.json:
        print_json({"integrations": items})
    else:
        ctx.out.print(integrations_table(items))
    return 0


def show(ctx: Context, args: argparse.Namespace) -> int:
    integration = ctx.api.integration(args.integration)
    since = iso(datetime.now(UTC) - timedelta(hours=24))
    counts = ctx.api.count_events(args.integration, since)
    if args.json:
        print_json({**integration, "last24h": counts})
        return 0
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column()
    retry = integration.get("retry") or {}
    for name, value in (
        ("Id", integration["id"]),
        ("Name", integration.get("name", "")),
        ("Enabled", "yes" if integration.get("enabled") else "no"),
        ("Ordering", f"per {integration.get('orderingScope')}"),
        ("Key", integration.get("apiKeyHint", "")),
        ("Key last used", _last_used(integration.get("apiKeyLastUsedAt"))),
        *_previous_key(integration),
        ("Max attempts", str(retry.get("maxAttempts") or "platform default")),
        (
            "Base delay",
            f"{retry['baseDelaySeconds']} s"
            if retry.get("baseDelaySeconds")
            else "platform default",
        ),
        ("Created", when(integration.get("createdAt"))),
        ("Updated", when(integration.get("updatedAt"))),
    ):
        grid.add_row(name, value)
    ctx.out.print(grid)
    line = Text("Last 24 h: ", style="dim")
    for status, count in counts["counts"].items():
        line.append(f"{count} ")
        line.append_text(status_text(status))
        line.append("  ")
    ctx.out.print(line)
    return 0


def _last_used(at: str | None) -> str:
    return f"{when(at)} (to within 5 minutes)" if at else "never"


def _previous_key(integration: dict[str, Any]) -> list[tuple[str, str]]:
    """The key a regeneration kept working, while its grace period runs."""
    until = integration.get("previousKeyValidUntil")
    if not until or datetime.fromisoformat(until.replace("Z", "+00:00")) <= datetime.now(UTC):
        return []
    hint = integration.get("previousKeyHint") or ""
    return [
        ("Previous key", f"{hint}, works until {when(until)}"),
        ("Previous key last used", _last_used(integration.get("previousKeyLastUsedAt"))),
    ]


def _set_enabled(ctx: Context, integration_id: str, enabled: bool) -> int:
    changed = ctx.api.change_integration(integration_id, {"enabled": enabled})
    name = f"{changed['id']} ({changed['name']})"
    if enabled:
        ctx.out.print(f"Integration {name} is enabled: its key is accepted again.")
    else:
        ctx.out.print(
            f"Integration {name} is disabled: its key now gets 403 on the inbound route. "
            "Events already accepted are still delivered."
        )
    return 0


def enable(ctx: Context, args: argparse.Namespace) -> int:
    return _set_enabled(ctx, args.integration, True)


def disable(ctx: Context, args: argparse.Namespace) -> int:
    return _set_enabled(ctx, args.integration, False)


def rotate_key(ctx: Context, args: argparse.Namespace) -> int:
    rotated = ctx.api.regenerate_key(args.integration, args.grace)
    if args.json:
        print_json(rotated)
        return 0
    until = rotated.get("previousKeyValidUntil")
    old = f"The old key works until {when(until)}." if until else "The old key stopped working."
    ctx.out.print(Text(f"New key for {rotated['id']}. {old}", style="bold"))
    _print_key(ctx, rotated["id"], rotated["apiKey"])
    return 0
