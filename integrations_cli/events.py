"""`events list | show | retry`: find events, read one in plain words, resubmit one."""

from __future__ import annotations

import argparse
from typing import Any

from rich.text import Text

from integrations_cli.client import Api, CliError
from integrations_cli.context import Context
from integrations_cli.explain import show_event
from integrations_cli.render import events_table, iso, parse_since, print_json

PAGE = 500  # the API's largest page


def event_query(integration_id: str, args: argparse.Namespace) -> dict[str, Any]:
    """The filter the options describe, in the API's words."""
    query: dict[str, Any] = {"integrationId": integration_id}
    for option, field in (
        ("status", "status"),
        ("action", "action"),
        ("entity", "entityId"),
        ("search", "search"),
    ):
        value = getattr(args, option, None)
        if value:
            query[field] = value
    if getattr(args, "since", None):
        try:
            query["from"] = iso(parse_since(args.since))
        except ValueError as exc:
            raise CliError(f"--since: {exc}.") from exc
    return query


def fetch(api: Api, query: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` events, newest first, over as many pages as needed; and whether
    more matched."""
    events: list[dict[str, Any]] = []
    token: str | None = None
    while len(events) < limit:
        page_query = {**query, "limit": min(PAGE, limit - len(events))}
        if token:
            page_query["continuationToken"] = token
        page = api.filter_events(page_query)
        events.extend(page["events"])
        token = page.get("continuationToken")
        if not token:
            return events, False
    return events, True


def list_(ctx: Context, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError("--limit must be at least 1.")
    events, more = fetch(ctx.api, event_query(args.integration, args), args.limit)
    if args.json:
        print_json({"events": events, "more": more})
        return 0
    title = f"{len(events)} event(s), newest first"
    ctx.out.print(events_table(events, title, ctx.out.width))
    if more:
        ctx.out.print(Text(f"More events match: raise --limit (now {args.limit}).", style="dim"))
    return 0


def show(ctx: Context, args: argparse.Namespace) -> int:
    event = ctx.api.event(args.integration, args.event)
    if args.json:
        print_json(event)
    else:
        show_event(ctx.out, event)
    return 0


def retry(ctx: Context, args: argparse.Namespace) -> int:
    done = ctx.api.retry_event(args.integration, args.event)
    if args.json:
        print_json(done)
        return 0
    ctx.out.print(
        f"Event {done['id']} is {done['status']} again (resubmission "
        f"#{done.get('resubmissions', '?')}). Follow it with "
        f"`events show {args.integration} {done['id']}`."
    )
    return 0
