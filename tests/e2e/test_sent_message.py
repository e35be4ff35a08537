"""The sender's view over HTTP: a system follows its own message with its own key, and
another integration's key cannot tell that message exists."""

from __future__ import annotations

import time

import pytest

from actions.examples import REFERENCE_EXAMPLES
from tests.conftest import Stack

pytestmark = pytest.mark.e2e
PUSH = REFERENCE_EXAMPLES["inventory.set"]


def ask(stack: Stack, key: str, message_id: str) -> tuple[int, dict[str, object]]:
    answer = stack.http.get(
        f"{stack.api}/integrations/custom/events/{message_id}",
        headers={"Authorization": f"Bearer {key}"},
    )
    return answer.status_code, answer.json()


def test_a_sender_follows_its_message_to_success_and_others_cannot_see_it(stack: Stack) -> None:
    mine, theirs = stack.new_integration("Sender"), stack.new_integration("Someone else")
    pushed = stack.http.post(
        stack.api + "/integrations/custom/inbound",
        json=PUSH,
        headers={"Authorization": f"Bearer {mine['apiKey']}"},
    )
    assert pushed.status_code == 202
    message_id = str(pushed.json()["messageId"])
    deadline = time.monotonic() + 30
    while True:
        status, body = ask(stack, mine["apiKey"], message_id)
        assert status == 200, body
        if body["status"] == "success" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert body["status"] == "success" and body["messageId"] == message_id
    assert body["attempts"] == 1 and body["lastError"] is None and body["result"]
    status, foreign = ask(stack, theirs["apiKey"], message_id)
    assert status == 404 and foreign["error"] == "not_found"
    status, _ = ask(stack, mine["apiKey"], "not-a-message")
    assert status == 404
