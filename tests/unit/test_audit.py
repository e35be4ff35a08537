"""The audit trail's pieces: the client's address from X-Forwarded-For as Azure's front
end sends it (and the local host imitates), the page size a URL asks for, and the
action names of rows written before today's."""

from __future__ import annotations

import pytest

from local.functions_host import forwarded
from shared.domain.audit import AuditAction
from shared.domain.errors import ValidationFailed
from shared.services.audit import page_size
from shared.services.auth import client_address


@pytest.mark.parametrize(
    ("header", "address"),
    [
        ("152.37.70.253:4598", "152.37.70.253"),
        ("10.10.0.5", "10.10.0.5"),
        ("[2001:db8::7]:43592", "2001:db8::7"),
        ("2001:db8::7", "2001:db8::7"),
        # what the client sent itself comes first; the front end's entry is the last
        ("1.2.3.4, 203.0.113.9:50123", "203.0.113.9"),
        ("evil, [::1]:1", "::1"),
        (" 198.51.100.1 , 198.51.100.2:80 ", "198.51.100.2"),
        ("not-an-address", None),
        ("1.2.3.4, ", None),
        ("", None),
        (None, None),
    ],
)
def test_the_client_is_the_entry_azures_front_end_appended(
    header: str | None, address: str | None
) -> None:
    assert client_address(header) == address


def test_the_local_host_appends_the_tcp_peer_as_azure_does() -> None:
    assert forwarded({"accept": "*/*"}, ("127.0.0.1", 5123)) == {
        "accept": "*/*",
        "x-forwarded-for": "127.0.0.1:5123",
    }
    assert forwarded({"X-Forwarded-For": "6.6.6.6"}, ("::1", 443)) == {
        "x-forwarded-for": "6.6.6.6, [::1]:443"
    }
    assert (
        client_address(forwarded({"x-forwarded-for": "6.6.6.6"}, ("::1", 443))["x-forwarded-for"])
        == "::1"
    )
    assert forwarded({"a": "b"}, None) == {"a": "b"}


@pytest.mark.parametrize(("given", "size"), [(None, 50), ("", 50), ("1", 1), (" 200", 200)])
def test_a_page_is_1_to_200_entries(given: str | None, size: int) -> None:
    assert page_size(given) == size


@pytest.mark.parametrize("given", ["0", "201", "-1", "ten", "1.5", "٣", "9" * 5000])
def test_any_other_limit_is_a_400_that_says_what_is_wanted(given: str) -> None:
    with pytest.raises(ValidationFailed, match="limit must be a whole number from 1 to 200"):
        page_size(given)


def test_rows_written_before_these_action_names_read_as_them() -> None:
    assert AuditAction.named("resubmit") is AuditAction.EVENT_RESUBMITTED
    assert AuditAction.named("bulk-resubmit") is AuditAction.JOB_PROGRESSED
    assert AuditAction.named("cancel-bulk-resubmit") is AuditAction.JOB_CANCELLED
    assert AuditAction.named("key.regenerated") is AuditAction.KEY_REGENERATED
