"""The fuzz run's figures, printed at the end of the session whether it passed or not."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.fuzz.test_api_fuzz import EXAMPLES, RUNS

    if not RUNS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("API fuzz (schemathesis against the served /openapi.json)")
    for run in RUNS:
        statuses = " ".join(f"{status}×{n}" for status, n in sorted(run.statuses.items()))
        mark = "  (nothing to break)" if run.unbreakable else ""
        mark += f"  FAILED {len(run.failures)}" if run.failures else ""
        write(f"{run.operation:<52} {run.credential:<16} {run.cases:>4} cases  {statuses}{mark}")
    operations = len({run.operation for run in RUNS})
    cases = sum(run.cases for run in RUNS)
    server_errors = sum(n for run in RUNS for s, n in run.statuses.items() if s >= 500)
    failures = sum(len(run.failures) for run in RUNS)
    write(
        f"{operations} operations, {len(RUNS)} operation × credential runs, {cases} cases "
        f"(up to {EXAMPLES} valid and {EXAMPLES} schema-breaking each), "
        f"{server_errors} server errors, {failures} failing runs"
    )
