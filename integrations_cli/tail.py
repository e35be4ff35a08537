"""`events tail`: new and changed events as they happen, until Ctrl-C."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from time import sleep
from typing import Any

from rich.text import Text

from integrations_cli.client import ApiError
from integrations_cli.context import Context
from integrations_cli.events import PAGE, event_query
from integrations_cli.render import event_line, iso, parse_since

MAX_FAILURES = 5


def _state(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event.get("status"), event.get("attempts"), event.get("updatedAt"))


def poll(ctx: Context, query: dict[str, Any], seen: dict[str, tuple[Any, ...]]) -> list[Text]:
    """Lines for the events that are new or changed since the last poll, oldest first."""
    page = ctx.api.filter_events({**query, "limit": PAGE})
    lines = []
    for event in reversed(page["events"]):  # the API answers newest first
        state = _state(event)
        before = seen.get(event["id"])
        if before != state:
            lines.append(event_line(event, "+" if before is None else "~"))
            seen[event["id"]] = state
    return lines


def tail(ctx: Context, args: argparse.Namespace) -> int:
    query = event_query(args.integration, argparse.Namespace(status=args.status))
    start = parse_since(args.since) if args.since else datetime.now(UTC)
    query["from"] = iso(start)
    seen: dict[str, tuple[Any, ...]] = {}
    ctx.err.print(
        Text(
            f"Following events of {args.integration} created since {iso(start)} "
            f"(every {args.interval:g} s; Ctrl-C stops). + new, ~ changed.",
            style="dim",
        )
    )
    failures = 0
    try:
        while True:
            try:
                for line in poll(ctx, query, seen):
                    ctx.out.print(line, soft_wrap=True)
                failures = 0
            except ApiError as error:
                failures += 1
                if error.exit_code == 2 or failures >= MAX_FAILURES:
                    raise
                ctx.err.print(Text(f"{error.message} (retrying)", style="yellow"))
            sleep(args.interval)
    except KeyboardInterrupt:
        ctx.err.print(Text("Stopped.", style="dim"))
        return 0
