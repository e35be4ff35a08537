"""Settings for local runs, as the Functions host gives them: `local.settings.json`
`Values` (falling back to the sample), with the environment always winning."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_local_settings(root: Path = ROOT) -> dict[str, str]:
    """Put the file's Values into os.environ where not already set; returns what applied."""
    path = root / "local.settings.json"
    if not path.exists():
        path = root / "local.settings.sample.json"
    values = json.loads(path.read_text()).get("Values", {})
    applied = {}
    for name, value in values.items():
        if name not in os.environ and value not in (None, ""):
            os.environ[name] = str(value)
            applied[name] = str(value)
    return applied
