"""`events retry-all` and `jobs show | watch | cancel`: a bulk resubmission job with a
progress bar; Ctrl-C offers to cancel it."""

from __future__ import annotations

import argparse
from time import sleep
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.prompt import Confirm
from rich.text import Text

from integrations_cli.client import Api, ApiError
from integrations_cli.context import Context
from integrations_cli.events import event_query, fetch
from integrations_cli.render import print_json, status_text

COUNT_CAP = 10_000  # past this many matches the bar has no total until the job ends
MAX_FAILURES = 5


def estimate(api: Api, query: dict[str, Any]) -> int | None:
    """How many events the job will go through, if that is cheap to know."""
    events, more = fetch(api, query, COUNT_CAP)
    return None if more else len(events)


def ask_to_cancel(ctx: Context, job_id: str) -> bool:
    try:
        return Confirm.ask(
            f"Cancel job {job_id}? (events already resubmitted stay queued)",
            console=ctx.out,
            default=False,
        )
    except (EOFError, KeyboardInterrupt):
        return False


def summary(job: dict[str, Any]) -> Text:
    done = job["progress"]
    line = Text(f"Job {job['id']} ")
    line.append_text(status_text(job["status"]))
    line.append(
        f": {done['matched']} matched, {done['resubmitted']} resubmitted, "
        f"{done['skipped']} skipped (no longer failed)."
    )
    return line


def _update(progress: Progress, task: TaskID, job: dict[str, Any], total: int | None) -> None:
    done = job["progress"]
    if job["status"] != "running":
        total = done["matched"]
    elif total is not None:
        total = max(total, done["matched"])
    progress.update(
        task,
        total=total,
        completed=done["matched"],
        resubmitted=done["resubmitted"],
        skipped=done["skipped"],
    )


def watch(ctx: Context, job: dict[str, Any], total: int | None, interval: float) -> int:
    """Poll the job until it is no longer running; Ctrl-C offers to cancel it."""
    integration_id, job_id = job["integrationId"], job["id"]
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("resubmitted {task.fields[resubmitted]}, skipped {task.fields[skipped]}"),
        TimeElapsedColumn(),
    )
    failures = 0
    try:
        with Progress(*columns, console=ctx.out) as progress:
            task = progress.add_task(f"Job {job_id}", total=total, resubmitted=0, skipped=0)
            _update(progress, task, job, total)
            while job["status"] == "running":
                sleep(interval)
                try:
                    job = ctx.api.job(integration_id, job_id)
                    failures = 0
                except ApiError as error:
                    failures += 1
                    if error.exit_code == 2 or failures >= MAX_FAILURES:
                        raise
                    continue
                _update(progress, task, job, total)
    except KeyboardInterrupt:
        return interrupted(ctx, integration_id, job_id)
    ctx.out.print(summary(job))
    return 0


def interrupted(ctx: Context, integration_id: str, job_id: str) -> int:
    if ask_to_cancel(ctx, job_id):
        job = ctx.api.cancel_job(integration_id, job_id)
        ctx.out.print(summary(job))
    else:
        ctx.out.print(
            f"The job goes on in the background. Follow it with "
            f"`jobs watch {integration_id} {job_id}`, stop it with "
            f"`jobs cancel {integration_id} {job_id}`."
        )
    return 130


def retry_all(ctx: Context, args: argparse.Namespace) -> int:
    query = event_query(args.integration, args)
    total = estimate(ctx.api, query)
    known = f"{total} event(s) match" if total is not None else "Many events match"
    ctx.out.print(f"{known}; only failed ones are resubmitted. Starting the job…")
    del query["integrationId"]  # the route takes it from the path
    job = ctx.api.start_bulk_retry(args.integration, query)
    return watch(ctx, job, total, args.interval)


def show_job(ctx: Context, args: argparse.Namespace) -> int:
    job = ctx.api.job(args.integration, args.job)
    if args.json:
        print_json(job)
    else:
        ctx.out.print(summary(job))
    return 0


def watch_job(ctx: Context, args: argparse.Namespace) -> int:
    return watch(ctx, ctx.api.job(args.integration, args.job), None, args.interval)


def cancel_job(ctx: Context, args: argparse.Namespace) -> int:
    job = ctx.api.cancel_job(args.integration, args.job)
    ctx.out.print(summary(job))
    return 0
