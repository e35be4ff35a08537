"""Stopping the local stack's child processes: politely, then for sure."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_all(children: list[subprocess.Popen[bytes]], grace_seconds: float = 5) -> None:
    """SIGTERM each process group (newest first), then SIGKILL what is still running.

    Azurite closes its services on SIGTERM but may keep its Node process alive, hence
    the second step."""
    for child in reversed(children):
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
