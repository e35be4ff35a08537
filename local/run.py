"""`make run`: the whole local stack in the foreground: Azurite, the platform sandbox
and the Functions host. Honours PORT, SANDBOX_PORT and MANAGEMENT_TOKEN; Ctrl-C stops
everything it started."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

from local.azurite import connection_string, port_open, start_azurite
from local.processes import stop_all
from local.settings_loader import ROOT, load_local_settings

STATE = ROOT / ".local"


def management_token() -> str:
    """The environment's token, else one generated once and kept in .local/."""
    if os.environ.get("MANAGEMENT_TOKEN"):
        return os.environ["MANAGEMENT_TOKEN"]
    path = STATE / "management-token"
    if not path.exists():
        STATE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def wait_until_up(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so `finally` stops the children, as Ctrl-C does


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    os.chdir(ROOT)
    os.environ["MANAGEMENT_TOKEN"] = management_token()
    port, sandbox_port = os.environ.get("PORT", "7071"), os.environ.get("SANDBOX_PORT", "7072")
    os.environ.setdefault("PLATFORM_BASE_URL", f"http://127.0.0.1:{sandbox_port}")
    blob_port = int(os.environ.get("AZURITE_BLOB_PORT", "10000"))
    table_port = int(os.environ.get("AZURITE_TABLE_PORT", "10002"))
    os.environ.setdefault("AzureWebJobsStorage", connection_string(blob_port, table_port))
    load_local_settings()
    busy = [p for p in (port, sandbox_port) if port_open(int(p))]
    if busy:
        print(
            f"Port(s) {', '.join(busy)} already in use: stop what runs there, or set "
            "PORT / SANDBOX_PORT.",
            file=sys.stderr,
        )
        return 1
    children: list[subprocess.Popen[bytes]] = []
    azurite = start_azurite(STATE / "azurite", blob_port, table_port)
    if azurite:
        children.append(azurite)
    python = sys.executable
    children.append(subprocess.Popen([python, "-m", "local.sandbox"], start_new_session=True))
    children.append(subprocess.Popen([python, "-m", "local.host"], start_new_session=True))
    try:
        base = f"http://127.0.0.1:{port}"
        if not wait_until_up(base + "/health", 60):
            print("The Functions host did not come up; see its log above.", file=sys.stderr)
            return 1
        print(
            f"\nIntegrations API  {base}   (health: {base}/health)\n"
            f"Platform sandbox  http://127.0.0.1:{sandbox_port}   (state: /_sandbox/state)\n"
            f"Storage           Azurite (tables :{table_port}, blobs :{blob_port}), in .local/\n"
            f"Admin token       {os.environ['MANAGEMENT_TOKEN']}\n"
            "Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("A component stopped; shutting the stack down.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all(children)


if __name__ == "__main__":
    sys.exit(main())
