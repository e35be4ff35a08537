"""Shared fixtures: one Azurite for the whole test session (tests make their own ids),
and the whole local stack for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.azurite import connection_string, port_open, start_azurite
from local.processes import stop_all

ROOT = Path(__file__).resolve().parent.parent
ADMIN, OPERATOR, READER = "test-admin-token", "test-operator-token", "test-reader-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string to this test session's own Azurite, on free ports (so two
    test sessions on one machine never share, or stop, each other's storage)."""
    blob_port, table_port = free_port(), free_port()
    process = start_azurite(tmp_path_factory.mktemp("azurite"), blob_port, table_port)
    yield connection_string(blob_port, table_port)
    if process:
        stop_all([process], grace_seconds=2)


@pytest.fixture(scope="module")
def private_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An Azurite of this module's own: for tests that run a timer, or count what a
    timer reads, where the session stack's own timer sharing the storage would interfere."""
    blob_port, table_port = free_port(), free_port()
    process = start_azurite(tmp_path_factory.mktemp("private-azurite"), blob_port, table_port)
    yield connection_string(blob_port, table_port)
    if process:
        stop_all([process], grace_seconds=2)


class LocalAzurite:
    """An Azurite a test may stop and start again on the same ports and data folder: a
    storage outage that loses nothing the storage had acknowledged."""

    SERVICES = ("Blob", "Table")

    def __init__(self, folder: Path) -> None:
        self.folder, self.blob_port, self.table_port = folder, free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return connection_string(self.blob_port, self.table_port)

    def start(self) -> None:
        self.process = start_azurite(self.folder, self.blob_port, self.table_port)
        assert self.process is not None, "another process answers on this Azurite's ports"

    def stop(self, seconds: float = 60) -> None:
        """SIGTERM, then wait until both services report closed: Azurite writes its
        tables to disk when it closes them (and otherwise only every few seconds), so
        killing it sooner would lose acknowledged writes, which real storage never does."""
        assert self.process is not None
        log = self.folder / "azurite.log"

        def closings() -> list[int]:
            text = log.read_text()
            return [text.count(f"{name} service successfully closed") for name in self.SERVICES]

        before = closings()
        os.killpg(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + seconds
        while any(now <= then for now, then in zip(closings(), before, strict=True)):
            assert time.monotonic() < deadline, f"Azurite did not close within {seconds} s"
            time.sleep(0.1)
        stop_all([self.process], grace_seconds=1)  # its Node process may linger
        self.process = None
        while port_open(self.blob_port) or port_open(self.table_port):
            assert time.monotonic() < deadline, "Azurite's ports stayed open"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def restartable_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAzurite]:
    """A private Azurite (see `private_azurite`) that the test may stop and restart."""
    storage = LocalAzurite(tmp_path_factory.mktemp("restartable-azurite"))
    storage.start()
    yield storage
    if storage.process is not None:
        stop_all([storage.process], grace_seconds=2)


class Stack:
    """The local stack as a user sees it: the API, the sandbox, tokens."""

    def __init__(self, api: str, sandbox: str, folder: Path, env: dict[str, str]) -> None:
        self.api, self.sandbox, self.folder, self.env = api, sandbox, folder, env
        self.http = httpx.Client(timeout=30)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, module: str) -> None:
        with open(self.folder / "stack.log", "ab") as log:
            self.processes[module] = subprocess.Popen(
                [sys.executable, "-m", module],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = (self.sandbox if module == "local.sandbox" else self.api) + "/health"
        wait_up(url, self.processes[module])

    def kill_host(self) -> None:
        """SIGKILL the Functions host: a worker dying mid-processing, nothing cleaned up."""
        process = self.processes.pop("local.host")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        stop_all(list(self.processes.values()))
        self.http.close()

    def admin(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        return self.call(method, path, ADMIN, **kwargs)

    def call(self, method: str, path: str, token: str | None, **kwargs: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.request(method, self.api + path, headers=headers, **kwargs)  # type: ignore[arg-type]

    def new_integration(self, name: str = "Test ERP") -> dict[str, str]:
        created = self.admin(
            "POST", "/v1/integrations/", json={"service": "custom", "enabled": True, "name": name}
        )
        assert created.status_code == 201, created.text
        return dict(created.json())

    def push(self, key: str, body: object, **headers: str) -> httpx.Response:
        return self.http.post(
            self.api + "/integrations/custom/inbound",
            json=body,
            headers={"Authorization": f"Bearer {key}", **headers},
        )

    def event(self, integration_id: str, event_id: str) -> dict[str, object]:
        answer = self.admin("GET", f"/v1/integrations/{integration_id}/events/{event_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def wait_for(
        self, integration_id: str, event_id: str, statuses: tuple[str, ...], seconds: float = 30
    ) -> dict[str, object]:
        deadline = time.monotonic() + seconds
        while True:
            event = self.event(integration_id, event_id)
            if event["status"] in statuses or time.monotonic() > deadline:
                return event
            time.sleep(0.1)

    def sandbox_state(self) -> dict[str, object]:
        return dict(self.http.get(self.sandbox + "/_sandbox/state").json())

    def faults(self, **faults: object) -> None:
        answer = self.http.put(self.sandbox + "/_sandbox/faults", json=faults)
        assert answer.status_code == 200, answer.text


def wait_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def stack_environment(
    folder: Path, azurite: str, api_port: int, sandbox_port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETRY_", "PLATFORM_"))}
    env.update(
        {
            "AzureWebJobsStorage": azurite,
            "PORT": str(api_port),
            "SANDBOX_PORT": str(sandbox_port),
            "SANDBOX_DB": str(folder / "sandbox.db"),
            "PLATFORM_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
            "PLATFORM_API_TOKEN": "test-platform-token",
            "PLATFORM_TIMEOUT_SECONDS": "2",
            "LOCAL_QUEUE_PATH": str(folder / "queue.db"),
            "LOCAL_SECRETS_DIR": str(folder / "secrets"),
            "MANAGEMENT_TOKEN": ADMIN,
            "OPERATOR_TOKEN": OPERATOR,
            "READER_TOKEN": READER,
            "RETRY_BASE_DELAY_SECONDS": "0.5",
            "RETRY_MAX_DELAY_SECONDS": "3",
            "RETRY_MAX_ATTEMPTS": "6",
            "RETRY_SCAN_SCHEDULE": "*/1 * * * * *",
            "ENQUEUE_GRACE_SECONDS": "5",
            "PROCESSING_LEASE_SECONDS": "20",
        }
    )
    return env


def start_stack(folder: Path, azurite: str, **settings: str) -> Stack:
    """Sandbox and Functions host as subprocesses; `settings` override the environment."""
    api_port, sandbox_port = free_port(), free_port()
    env = stack_environment(folder, azurite, api_port, sandbox_port) | settings
    stack = Stack(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{sandbox_port}", folder, env)
    try:
        stack.start("local.sandbox")
        stack.start("local.host")
    except Exception:
        stack.stop()
        raise
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole local stack (sandbox + Functions host) on an Azurite of its own: its
    timer works the shared due-time index, which must not be the one adapter tests use."""
    folder = tmp_path_factory.mktemp("stack")
    blob_port, table_port = free_port(), free_port()
    storage = start_azurite(folder / "azurite", blob_port, table_port)
    try:
        running = start_stack(folder, connection_string(blob_port, table_port))
        yield running
        running.stop()
    finally:
        if storage:
            stop_all([storage], grace_seconds=2)
