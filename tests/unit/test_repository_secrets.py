"""No live secret in the repository: every tracked file is read for anything shaped like
an integration key or a management token whose checksum holds
(`shared.domain.credentials`). A real secret always has one; an example in the
documentation must not (end it in `_000000`, say), or be listed in `ALLOWED` with the
reason it is harmless. Keys issued before the checksum cannot be told from examples,
so only checksummed secrets are looked for.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from shared.domain.credentials import checksum_holds, issue

ROOT = Path(__file__).resolve().parents[2]
SECRET = re.compile(r"avvyr_(?:int_live|mgmt)_[A-Za-z0-9_-]+")
# value -> why it may be in the repository
ALLOWED: dict[str, str] = {}
# Outside a Git checkout (a copy of the tree), every file but these is read.
NOT_TRACKED = {".git", ".venv", "node_modules", ".local", ".mypy_cache", ".ruff_cache"}


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        return [
            path
            for path in ROOT.rglob("*")
            if path.is_file()
            and not NOT_TRACKED & set(path.relative_to(ROOT).parts)
            and "__pycache__" not in path.parts
        ]
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def live_secrets(text: str) -> list[str]:
    """Every value in `text` shaped like a secret this API issues, checksum holding. A
    match may run on into what follows it ("…_Ab12Cd_x" or "…-x"), so each of its
    prefixes ending before a '_' or '-' is tried too."""
    found = []
    for match in SECRET.finditer(text):
        value = match.group()
        cuts = [i for i, char in enumerate(value) if char in "_-"] + [len(value)]
        found += [value[:cut] for cut in cuts if checksum_holds(value[:cut])]
    return found


def test_the_scan_finds_a_secret_the_api_would_issue() -> None:
    token = issue("avvyr_mgmt_tok_0123456789abcdef_")
    key = issue("avvyr_int_live_int_0123456789abcdef_")
    assert live_secrets(f'{{"token": "{token}"}} Authorization: Bearer {key}.') == [token, key]
    mistyped = token[:-1] + ("y" if token.endswith("x") else "x")
    assert live_secrets(f"{mistyped} and {key[:-7]}") == []  # mistyped, cut short


def test_no_tracked_file_holds_a_live_secret() -> None:
    files = tracked_files()
    assert any(path.name == "credentials.py" for path in files), "the scan read no files"
    leaks = {}
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found = [value for value in live_secrets(text) if value not in ALLOWED]
        if found:
            leaks[str(path.relative_to(ROOT))] = found
    assert not leaks, (
        f"secrets whose checksum holds: {leaks}. If one is a real secret, revoke it; if it "
        "is an example, make its checksum fail (end it in _000000) or add it to ALLOWED "
        "with the reason it is harmless."
    )
