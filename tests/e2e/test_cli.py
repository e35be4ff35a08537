"""The command-line tool against the whole local stack, run in-process as a person would
run it: `python -m integrations_cli ...`, output read back from the terminal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from integrations_cli import bulk, tail
from integrations_cli.app import main
from integrations_cli.client import Api, settings_from
from integrations_cli.context import Context
from tests.conftest import ADMIN, READER, ROOT, Stack

pytestmark = pytest.mark.e2e
KEY = re.compile(r"avvyr_int_live_[A-Za-z0-9_\-]+")
STOCK = {
    "action": "inventory.set",
    "data": {"items": [{"sku": "CLI-1", "quantity": 3, "warehouseId": "wh-01"}]},
}


def unknown_order(n: int) -> dict[str, Any]:
    """Fails for good: the platform has no such order."""
    return {
        "action": "order.update",
        "entityId": f"no-such-order-{n}",
        "data": {"status": "shipped"},
    }


@dataclass
class Ran:
    code: int
    out: str
    err: str


Cli = Callable[..., Ran]


@pytest.fixture
def cli(stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    monkeypatch.setenv("INTEGRATIONS_API_URL", stack.api)
    monkeypatch.setenv("INTEGRATIONS_TOKEN", ADMIN)
    monkeypatch.setenv("COLUMNS", "250")  # wide enough that tables keep whole ids

    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def created(cli: Cli, name: str) -> dict[str, Any]:
    ran = cli("integrations", "create", "--name", name, "--json")
    assert ran.code == 0, ran.err
    return dict(json.loads(ran.out))


def delivered(stack: Stack, integration: dict[str, Any], body: dict[str, Any], status: str) -> str:
    accepted = stack.push(integration["apiKey"], body)
    assert accepted.status_code == 202, accepted.text
    event_id = str(accepted.json()["messageId"])
    event = stack.wait_for(integration["id"], event_id, ("success", "failed"))
    assert event["status"] == status, event
    return event_id


def test_create_prints_the_id_and_the_key_once_with_a_warning(cli: Cli, stack: Stack) -> None:
    ran = cli("integrations", "create", "--name", "CLI ERP", "--ordering", "entity")
    assert ran.code == 0, ran.err
    integration_id = re.search(r"int_[0-9a-f]+", ran.out)
    key = KEY.search(ran.out)
    assert integration_id and key, ran.out
    assert "shown only once" in ran.out and "ordered per entity" in ran.out
    assert stack.push(key.group(0), STOCK).status_code == 202

    listed = cli("integrations", "list")
    assert listed.code == 0 and integration_id.group(0) in listed.out and "CLI ERP" in listed.out
    assert key.group(0) not in listed.out
    as_json = json.loads(cli("integrations", "list", "--json").out)
    assert integration_id.group(0) in {item["id"] for item in as_json["integrations"]}


def test_disable_enable_and_rotate_key(cli: Cli, stack: Stack) -> None:
    integration = created(cli, "CLI switch")
    iid, old_key = integration["id"], integration["apiKey"]

    ran = cli("integrations", "disable", iid)
    assert ran.code == 0 and "disabled" in ran.out
    assert stack.push(old_key, STOCK).status_code == 403
    assert cli("integrations", "enable", iid).code == 0
    assert stack.push(old_key, STOCK).status_code == 202

    rotated = cli("integrations", "rotate-key", iid)
    assert rotated.code == 0 and "old key stopped working" in rotated.out
    new_key = KEY.search(rotated.out)
    assert new_key and new_key.group(0) != old_key
    assert stack.push(old_key, STOCK).status_code == 401
    assert stack.push(new_key.group(0), STOCK).status_code == 202

    shown = cli("integrations", "show", iid)
    assert shown.code == 0 and "CLI switch" in shown.out and "Last 24 h" in shown.out
    assert "Key last used" in shown.out and "to within 5 minutes" in shown.out

    graced = cli("integrations", "rotate-key", iid, "--grace", "3600")
    assert graced.code == 0 and "The old key works until" in graced.out, graced.out
    newest = KEY.search(graced.out)
    assert newest and newest.group(0) != new_key.group(0)
    assert stack.push(new_key.group(0), STOCK).status_code == 202  # within its grace
    assert stack.push(newest.group(0), STOCK).status_code == 202
    shown = cli("integrations", "show", iid)
    assert "Previous key" in shown.out and new_key.group(0)[-4:] in shown.out
    refused = cli("integrations", "rotate-key", iid, "--grace", "604801")
    assert refused.code == 2 and "graceSeconds" in refused.err + refused.out


def test_list_show_and_retry_events(cli: Cli, stack: Stack) -> None:
    integration = created(cli, "CLI events")
    iid = integration["id"]
    ok = delivered(stack, integration, STOCK, "success")
    failed = delivered(stack, integration, unknown_order(1), "failed")

    table = cli("events", "list", iid, "--since", "1h")
    assert table.code == 0, table.err
    assert ok in table.out and failed in table.out and "order.update" in table.out
    only_failed = json.loads(cli("events", "list", iid, "--status", "failed", "--json").out)
    assert [event["id"] for event in only_failed["events"]] == [failed]
    by_action = json.loads(cli("events", "list", iid, "--action", "inventory.set", "--json").out)
    assert [event["id"] for event in by_action["events"]] == [ok]
    one = cli("events", "list", iid, "--limit", "1")
    assert "More events match" in one.out

    shown = cli("events", "show", iid, failed)
    assert shown.code == 0, shown.err
    assert "The platform rejected this data" in shown.out and "Attempts" in shown.out
    assert "no-such-order-1" in shown.out and "PATCH /v1/orders/no-such-order-1" in shown.out
    detail = json.loads(cli("events", "show", iid, failed, "--json").out)
    assert detail["id"] == failed and detail["attemptLog"]

    retried = cli("events", "retry", iid, failed)
    assert retried.code == 0 and "resubmission #1" in retried.out
    refused = cli("events", "retry", iid, ok)
    assert refused.code == 2
    assert "only failed events can be resubmitted" in refused.err and refused.out == ""


def test_retry_all_shows_progress_until_the_job_completes(cli: Cli, stack: Stack) -> None:
    integration = created(cli, "CLI bulk")
    iid = integration["id"]
    delivered(stack, integration, STOCK, "success")
    for n in range(3):
        delivered(stack, integration, unknown_order(n), "failed")

    ran = cli("events", "retry-all", iid, "--status", "failed", "--interval", "0.2")
    assert ran.code == 0, ran.err
    assert "3 event(s) match" in ran.out
    assert re.search(r"Job job_\w+ completed: 3 matched, 3 resubmitted, 0 skipped", ran.out)
    assert "3/3" in ran.out  # the progress bar's last state
    audit = stack.admin("GET", f"/v1/integrations/{iid}/audit").json()["entries"]
    assert any(
        e["action"] == "events.resubmitted" and e["actor"] == "admin (MANAGEMENT_TOKEN setting)"
        for e in audit
    )


def test_ctrl_c_during_a_bulk_job_offers_to_cancel_it(
    cli: Cli, stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    integration = created(cli, "CLI cancel")
    started = stack.admin("POST", f"/v1/integrations/{integration['id']}/events/retry", json={})
    job = {**started.json(), "status": "running"}  # as if a page were still to go

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    asked: list[str] = []
    monkeypatch.setattr(bulk, "sleep", interrupt)

    def ask_to_cancel(ctx: object, job_id: str) -> bool:
        asked.append(job_id)
        return True

    monkeypatch.setattr(bulk, "ask_to_cancel", ask_to_cancel)
    with Api(settings_from(stack.api, ADMIN)) as api:
        from rich.console import Console

        code = bulk.watch(Context(api, Console(), Console(stderr=True)), job, None, 0.1)
    assert code == 130 and asked == [job["id"]]
    assert f"Job {job['id']} completed" in capsys.readouterr().out  # it had ended already


def test_tail_prints_new_and_changed_events_and_stops_on_ctrl_c(
    cli: Cli, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    integration = created(cli, "CLI tail")
    first = delivered(stack, integration, STOCK, "success")
    later: list[str] = []

    def between_polls(seconds: float) -> None:
        if later:
            raise KeyboardInterrupt
        later.append(delivered(stack, integration, unknown_order(9), "failed"))

    monkeypatch.setattr(tail, "sleep", between_polls)
    ran = cli("events", "tail", integration["id"], "--since", "10m", "--interval", "0.1")
    assert ran.code == 0 and "Stopped." in ran.err
    assert first in ran.out and later[0] in ran.out
    assert ran.out.index(first) < ran.out.index(later[0])


def test_errors_print_the_api_message_in_red_and_exit_non_zero(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = cli("events", "list", "int_does_not_exist")
    assert missing.code == 2 and "No integration with id 'int_does_not_exist'" in missing.err
    wrong_role = cli("integrations", "create", "--name", "x", "--token", READER)
    assert wrong_role.code == 2 and "needs the admin role" in wrong_role.err
    bad_since = cli("events", "list", "int_x", "--since", "yesterday")
    assert bad_since.code == 2 and "--since" in bad_since.err
    down = cli("integrations", "list", "--url", "http://127.0.0.1:9")
    assert down.code == 3 and "Cannot reach the Integrations API" in down.err
    monkeypatch.delenv("INTEGRATIONS_TOKEN")
    monkeypatch.delenv("MANAGEMENT_TOKEN", raising=False)
    no_token = cli("integrations", "list")
    assert no_token.code == 2 and "No management token" in no_token.err


def test_runs_as_a_module(stack: Stack) -> None:
    env = {"INTEGRATIONS_API_URL": stack.api, "MANAGEMENT_TOKEN": ADMIN, "PATH": ""}
    ran = subprocess.run(
        [sys.executable, "-m", "integrations_cli", "integrations", "list", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert "integrations" in json.loads(ran.stdout)


def test_an_admin_makes_a_scoped_token_its_holder_sees_one_integration_until_revoked(
    cli: Cli, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, other = created(cli, "CLI scoped"), created(cli, "CLI not mine")
    ran = cli(
        "tokens", "create", "--name", "wms-reader", "--role", "reader",
        "--integration", mine["id"], "--expires", "30d", "--json",
    )  # fmt: skip
    assert ran.code == 0, ran.err
    token = json.loads(ran.out)
    assert token["integrationIds"] == [mine["id"]] and token["token"].startswith("avvyr_mgmt_")
    listed = cli("tokens", "list", "--json")
    assert token["token"] not in listed.out  # listed without its secret
    assert token["id"] in listed.out

    monkeypatch.setenv("INTEGRATIONS_TOKEN", token["token"])
    seen = cli("integrations", "list", "--json")
    assert [item["id"] for item in json.loads(seen.out)["integrations"]] == [mine["id"]]
    refused = cli("integrations", "show", other["id"])
    assert refused.code == 2 and "limited to other integrations" in refused.err
    made = cli("tokens", "create", "--name", "x", "--role", "reader")
    assert made.code == 2 and "admin" in made.err

    monkeypatch.setenv("INTEGRATIONS_TOKEN", ADMIN)
    revoked = cli("tokens", "revoke", token["id"])
    assert revoked.code == 0 and "refused from now on" in revoked.out
    monkeypatch.setenv("INTEGRATIONS_TOKEN", token["token"])
    after = cli("integrations", "list")
    assert after.code == 2 and "revoked" in after.err
