"""The command line: `python -m integrations_cli [options] GROUP COMMAND ...`."""

from __future__ import annotations

import argparse
from functools import partial

from integrations_cli import bulk, events, integrations, tail, tokens
from integrations_cli.context import Handler

STATUSES = ("queued", "processing", "success", "failed", "skipped")
EPILOG = """\
environment:
  INTEGRATIONS_API_URL   the API's base URL (default http://127.0.0.1:7071)
  INTEGRATIONS_TOKEN     a management token (MANAGEMENT_TOKEN is used when unset); the
                         audit trail names you by your token

exit status: 0 done, 2 the API refused (4xx) or bad usage, 3 the API failed (5xx) or
could not be reached, 130 interrupted."""


def _connection_options() -> argparse.ArgumentParser:
    """Accepted before the group and after the command alike."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS, help="the API's base URL")
    common.add_argument("--token", default=argparse.SUPPRESS, help="a management token")
    return common


def _filters(parser: argparse.ArgumentParser, status_default: str | None = None) -> None:
    parser.add_argument("--status", choices=STATUSES, default=status_default)
    parser.add_argument("--action", help="e.g. order.create")
    parser.add_argument("--entity", help="exact entity id")
    parser.add_argument("--search", help="part of an entity id, any case")
    parser.add_argument("--since", help="created since: 15m, 1h, 2d, 1w or an ISO time")


Commands = argparse._SubParsersAction  # the object add_subparsers() returns


def _command(
    common: argparse.ArgumentParser,
    group: Commands[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
    json: bool = False,
) -> argparse.ArgumentParser:
    sub = group.add_parser(name, help=help_text, description=help_text, parents=[common])
    sub.set_defaults(handler=handler, json=False)
    if json:
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    return sub


def build_parser() -> argparse.ArgumentParser:
    common = _connection_options()
    parser = argparse.ArgumentParser(
        prog="python -m integrations_cli",
        description="Operate the Integrations API: integrations, keys, events, resubmission.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")

    command = partial(_command, common)
    ints = groups.add_parser("integrations", help="create, list, enable, disable, rotate keys")
    ints_cmds = ints.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = command(
        ints_cmds, "create", "create an integration and its API key", integrations.create, json=True
    )
    create.add_argument("--name", required=True)
    create.add_argument(
        "--ordering",
        choices=("integration", "entity"),
        default="integration",
        help="FIFO per integration (default) or per entity",
    )
    command(ints_cmds, "list", "list integrations", integrations.list_, json=True)
    for name, handler, text in (
        ("show", integrations.show, "one integration and its last 24 hours"),
        ("enable", integrations.enable, "accept the integration's key again"),
        ("disable", integrations.disable, "refuse the integration's key (403)"),
        (
            "rotate-key",
            integrations.rotate_key,
            "replace the key; the old one stops working (at once, or after --grace)",
        ),
    ):
        sub = command(ints_cmds, name, text, handler, json=name in ("show", "rotate-key"))
        sub.add_argument("integration", metavar="INTEGRATION")
        if name == "rotate-key":
            sub.add_argument(
                "--grace",
                type=int,
                default=0,
                metavar="SECONDS",
                help="keep the old key working this long (0-604800; default 0: stop at once)",
            )

    evs = groups.add_parser("events", help="list, tail, show and resubmit events")
    evs_cmds = evs.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = command(evs_cmds, "list", "events, newest first", events.list_, json=True)
    listing.add_argument("integration", metavar="INTEGRATION")
    _filters(listing)
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    follow = command(evs_cmds, "tail", "print new and changed events until Ctrl-C", tail.tail)
    follow.add_argument("integration", metavar="INTEGRATION")
    follow.add_argument("--status", choices=STATUSES)
    follow.add_argument("--since", help="also show events created since (default: now)")
    follow.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    for name, handler, text in (
        ("show", events.show, "one event: what went wrong, its attempts, its payload"),
        ("retry", events.retry, "resubmit one failed event"),
    ):
        sub = command(evs_cmds, name, text, handler, json=True)
        sub.add_argument("integration", metavar="INTEGRATION")
        sub.add_argument("event", metavar="EVENT")
    every = command(
        evs_cmds, "retry-all", "resubmit every failed event matching the filter", bulk.retry_all
    )
    every.add_argument("integration", metavar="INTEGRATION")
    _filters(every, status_default="failed")
    every.add_argument("--interval", type=float, default=1.0, help="seconds between polls")

    jobs = groups.add_parser("jobs", help="bulk resubmission jobs")
    jobs_cmds = jobs.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, handler, text in (
        ("show", bulk.show_job, "a job's status and progress"),
        ("watch", bulk.watch_job, "a job's progress bar until it ends"),
        ("cancel", bulk.cancel_job, "stop a running job"),
    ):
        sub = command(jobs_cmds, name, text, handler, json=name == "show")
        sub.add_argument("integration", metavar="INTEGRATION")
        sub.add_argument("job", metavar="JOB")
        if name == "watch":
            sub.add_argument("--interval", type=float, default=1.0)

    toks = groups.add_parser("tokens", help="named management tokens (admin)")
    toks_cmds = toks.add_subparsers(dest="command", required=True, metavar="COMMAND")
    make = command(
        toks_cmds, "create", "make a token; its secret is shown once", tokens.create, json=True
    )
    make.add_argument("--name", required=True, help="who or what holds it, e.g. maria.ops")
    make.add_argument("--role", required=True, choices=("reader", "operator", "admin"))
    make.add_argument(
        "--integration",
        action="append",
        dest="integrations",
        metavar="INTEGRATION",
        help="limit the token to this integration (repeat for more; default: all)",
    )
    make.add_argument("--expires", help="when it stops working: 30d, 12h, 1w or an ISO time")
    command(toks_cmds, "list", "every token, without secrets", tokens.list_, json=True)
    revoke = command(toks_cmds, "revoke", "refuse a token from now on", tokens.revoke)
    revoke.add_argument("token_id", metavar="TOKEN_ID")
    return parser
