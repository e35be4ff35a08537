"""What function_app.py declares, read once: `get_functions()` may be called only once
per process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class HttpFunction:
    route: str  # as declared, without the leading slash
    methods: frozenset[str]  # upper case
    user_function: Any


@pytest.fixture(scope="session")
def http_functions() -> list[HttpFunction]:
    import function_app

    found = []
    for function in function_app.app.get_functions():
        binding = function.get_trigger()
        trigger = binding.get_dict_repr() if binding else {}
        if trigger.get("type") != "httpTrigger":
            continue
        methods = frozenset(str(getattr(m, "value", m)).upper() for m in trigger["methods"])
        found.append(
            HttpFunction(trigger["route"].strip("/"), methods, function.get_user_function())
        )
    return found
