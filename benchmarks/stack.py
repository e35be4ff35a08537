"""A whole local stack for one benchmark: Azurite, the platform sandbox and the Functions
host on free ports, in a temporary folder, never the ports or data of `make run`.

Every product setting is the documented default (local.settings.sample.json) except
the few named here, so a developer's `local.settings.json` or shell cannot change a
figure. CPU time is read from /proc for each started process group.

Example::

    with BenchStack(INBOUND_REQUESTS_PER_SECOND="0") as stack:
        before = stack.cpu()
        ...
        print(stack.cpu().since(before)["share"])
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from local.azurite import connection_string, start_azurite
from local.processes import stop_all

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOAD_CLIENT = "loadClient"  # this process: the clients that push the load


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def group_cpu_seconds(group_ids: set[int]) -> dict[int, float]:
    """User + system CPU seconds of every live process in each process group."""
    totals = dict.fromkeys(group_ids, 0.0)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        group = int(fields[2])  # proc(5) field 5, counted from the field after the name
        if group in totals:
            totals[group] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (every process, ours or not)."""
    with open("/proc/stat") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:9]]  # user … steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # minus idle and iowait


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds of the stack's processes and of the whole machine at one moment."""

    processes: dict[str, float]
    machine: float
    taken: float = field(default_factory=time.monotonic)

    def since(self, earlier: CpuSnapshot) -> dict[str, Any]:
        """CPU the stack's processes used in between, as a share of all cores; the load
        client's share apart; and how busy the whole machine was (other work on it
        makes the figures noisier)."""
        cores, wall = os.cpu_count() or 1, self.taken - earlier.taken
        used = {name: self.processes[name] - earlier.processes[name] for name in self.processes}
        client = used.pop(LOAD_CLIENT, 0.0)
        return {
            "seconds": round(wall, 2),
            "cores": cores,
            "cpuSeconds": {name: round(seconds, 2) for name, seconds in used.items()},
            "share": round(sum(used.values()) / wall / cores, 3),
            "loadClientShare": round(client / wall / cores, 3),
            "machineBusyShare": round((self.machine - earlier.machine) / wall / cores, 3),
        }


def product_defaults() -> dict[str, str]:
    """Every setting `local.host` could take from local.settings.json, at the sample's
    value: the documented default (empty means the product's own default)."""

    def values(file: str) -> dict[str, str]:
        path = ROOT / file
        found = json.loads(path.read_text()).get("Values", {}) if path.exists() else {}
        return {name: str(value or "") for name, value in found.items()}

    return dict.fromkeys(values("local.settings.json"), "") | values("local.settings.sample.json")


def wait_up(url: str, process: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up within {seconds:.0f} s")


class BenchStack:
    """Started on `__enter__`, stopped (and its folder removed) on `__exit__`."""

    def __init__(self, **settings: str) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="bench-stack-")
        self.folder = Path(self._folder.name)
        self.token = secrets.token_urlsafe(16)
        blob_port, table_port = free_port(), free_port()
        api_port, sandbox_port = free_port(), free_port()
        self.storage = connection_string(blob_port, table_port)
        self._storage_ports = (blob_port, table_port)
        self.api = f"http://127.0.0.1:{api_port}"
        self.sandbox = f"http://127.0.0.1:{sandbox_port}"
        self.env = self._environment(api_port, sandbox_port) | settings
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _environment(self, api_port: int, sandbox_port: int) -> dict[str, str]:
        defaults = product_defaults()
        inherited = {k: v for k, v in os.environ.items() if k not in defaults}
        return (
            inherited
            | defaults
            | {
                "AzureWebJobsStorage": self.storage,
                "PORT": str(api_port),
                "SANDBOX_PORT": str(sandbox_port),
                "SANDBOX_DB": str(self.folder / "sandbox.db"),
                "PLATFORM_BASE_URL": self.sandbox,
                "PLATFORM_API_TOKEN": secrets.token_urlsafe(16),
                "LOCAL_QUEUE_PATH": str(self.folder / "queue.db"),
                "LOCAL_SECRETS_DIR": str(self.folder / "secrets"),
                "MANAGEMENT_TOKEN": self.token,
            }
        )

    def __enter__(self) -> BenchStack:
        try:
            azurite = start_azurite(self.folder / "azurite", *self._storage_ports)
            if azurite is None:
                raise RuntimeError("Azurite's free ports were taken meanwhile; run again")
            self.processes["azurite"] = azurite
            self.start("local.sandbox", self.sandbox)
            self.start("local.host", self.api)
        except BaseException:
            self.close(show_log=True)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close(show_log=error is not None)

    def start(self, module: str, url: str, **env: str) -> subprocess.Popen[bytes]:
        """`python -m module` in its own process group, up when `url`/health answers."""
        with open(self.folder / "stack.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module],
                cwd=ROOT,
                env=self.env | env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: CPU is counted per group
            )
        self.processes[module] = process
        wait_up(url + "/health", process)
        return process

    def stop(self, module: str) -> None:
        stop_all([self.processes.pop(module)], grace_seconds=5)

    def close(self, show_log: bool = False) -> None:
        stop_all(list(self.processes.values()), grace_seconds=5)
        log = self.folder / "stack.log"
        if show_log and log.exists():
            tail = log.read_text(errors="replace").splitlines()[-40:]
            print("--- last lines of the stack's log ---", *tail, sep="\n", file=sys.stderr)
        self._folder.cleanup()

    def cpu(self, *names: str) -> CpuSnapshot:
        """CPU seconds so far of the named processes (all started ones by default) and
        of this process (the load client)."""
        chosen = {name: self.processes[name].pid for name in names or self.processes}
        by_group = group_cpu_seconds(set(chosen.values()))
        processes = {name: by_group[pid] for name, pid in chosen.items()}
        return CpuSnapshot(processes | {LOAD_CLIENT: time.process_time()}, machine_busy_seconds())

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}
