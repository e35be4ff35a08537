"""The README documents every setting the product reads."""

from __future__ import annotations

from pathlib import Path

from shared.config import setting_names

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = sorted(name for name in setting_names() if f"`{name}`" not in text)
    assert not missing, f"document these settings in the README: {missing}"
