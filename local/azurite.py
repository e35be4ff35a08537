"""Azurite (Table and Blob storage) for local runs and tests, from node_modules."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's published development key: it only ever opens the local emulator.
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(blob_port: int, table_port: int) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/{ACCOUNT};"
        f"TableEndpoint=http://127.0.0.1:{table_port}/{ACCOUNT};"
    )


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_azurite(
    location: Path, blob_port: int = 10000, table_port: int = 10002, log: Path | None = None
) -> subprocess.Popen[bytes] | None:
    """Start Azurite's blob and table services; None if they already answer there."""
    if port_open(blob_port) and port_open(table_port):
        return None
    binary = ROOT / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise RuntimeError("Azurite is not installed: run `make setup` (npm ci).")
    location.mkdir(parents=True, exist_ok=True)
    output = open(log or location / "azurite.log", "ab")  # noqa: SIM115 (lives with the process)
    process = subprocess.Popen(
        [
            str(binary),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--location",
            str(location),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(blob_port),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(table_port),
            "--queuePort",
            "0",
        ],
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if port_open(blob_port) and port_open(table_port):
            return process
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode}; see {output.name}")
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError("Azurite did not start within 30 s")
