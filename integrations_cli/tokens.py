"""`tokens create | list | revoke`: named management tokens (an admin's token needed)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.table import Table
from rich.text import Text

from integrations_cli.client import CliError
from integrations_cli.context import Context
from integrations_cli.render import DURATION, UNITS, iso, print_json, when

SECRET_WARNING = (
    "Store this token now (e.g. in your password manager): it is shown only once. "
    "Whoever holds it acts as '{name}' ({role}); revoke it with `tokens revoke {id}`."
)


def parse_until(text: str, now: datetime | None = None) -> datetime:
    """`12h`, `30d`, `1w` from now, or an ISO 8601 time."""
    match = DURATION.match(text.strip().lower())
    if match:
        delta = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) + delta
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"'{text}' is neither a duration (12h, 30d, 1w) nor an ISO time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def create(ctx: Context, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "role": args.role}
    if args.integrations:
        body["integrationIds"] = args.integrations
    if args.expires:
        body["expiresAt"] = iso(parse_until(args.expires))
    created = ctx.api.create_token(body)
    if args.json:
        print_json(created)
        return 0
    line = Text("Made token ")
    line.append(created["id"], style="bold")
    scope = ", ".join(created["integrationIds"] or ["every integration"])
    line.append(f" for {created['name']} ({created['role']}; {scope}")
    line.append(f"; expires {when(created['expiresAt'])})" if created["expiresAt"] else ")")
    ctx.out.print(line)
    ctx.out.print("Token:")
    ctx.out.print(Text(created["token"], style="bold green"), soft_wrap=True)
    warning = SECRET_WARNING.format(name=created["name"], role=created["role"], id=created["id"])
    ctx.out.print(Text("⚠ " + warning, style="yellow"))
    return 0


def list_(ctx: Context, args: argparse.Namespace) -> int:
    found = ctx.api.tokens()
    if args.json:
        print_json({"tokens": found})
        return 0
    table = Table(title=f"{len(found)} token(s)", title_justify="left")
    for column in ("Id", "Name", "Role", "Integrations", "Expires", "Last used", "State"):
        table.add_column(column, no_wrap=column in ("Id", "Expires", "Last used"))
    for token in found:
        state = (
            Text(f"revoked {when(token['revokedAt'])}", "bold red")
            if token["revokedAt"]
            else Text("active", "green")
        )
        table.add_row(
            token["id"],
            token["name"],
            token["role"],
            ", ".join(token["integrationIds"] or ["all"]),
            when(token["expiresAt"]),
            when(token["lastUsedAt"]),
            state,
        )
    ctx.out.print(table)
    return 0


def revoke(ctx: Context, args: argparse.Namespace) -> int:
    revoked = ctx.api.revoke_token(args.token_id)
    ctx.out.print(
        Text(f"Revoked token {revoked['id']} ({revoked['name']}): it is refused from now on.")
    )
    return 0
