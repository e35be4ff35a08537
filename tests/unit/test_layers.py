"""The core's folders are its layers, and imports point one way: api → services →
domain; adapters implement the services' ports. An import the wrong way fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

# What each layer may import of the core (anything outside `shared` is not checked here).
ALLOWED: dict[str, tuple[str, ...]] = {
    "domain": ("shared.domain", "shared.config"),
    "services": ("shared.domain", "shared.services", "shared.config", "shared.telemetry"),
    "adapters": (
        "shared.domain",
        "shared.services.ports",
        "shared.adapters",
        "shared.config",
        "shared.telemetry",
    ),
    "api": ("shared.domain", "shared.services", "shared.api", "shared.config", "shared.bootstrap"),
}


def core_imports(path: Path) -> list[tuple[int, str]]:
    """Every `shared…` module a file imports, type-checking-only imports included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            if node.module == "shared":
                found += [(node.lineno, name) for name in names]
            elif node.module.startswith("shared."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("shared.")]
    return found


def allowed(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_down_the_layers(layer: str) -> None:
    files = sorted((SHARED / layer).glob("*.py"))
    assert files, f"shared/{layer}/ has no modules"
    wrong = [
        f"shared/{layer}/{path.name}:{line} imports {module}"
        for path in files
        for line, module in core_imports(path)
        if not allowed(module, ALLOWED[layer])
    ]
    assert not wrong, "imports that point the wrong way:\n" + "\n".join(wrong)


def test_every_module_of_the_core_is_in_a_layer_or_named_here() -> None:
    """Beside the layers only the composition root, the settings and telemetry."""
    loose = {path.name for path in SHARED.glob("*.py")}
    assert loose == {"__init__.py", "bootstrap.py", "config.py", "observability.py", "telemetry.py"}


def test_the_checker_sees_a_wrong_way_import(tmp_path: Path) -> None:
    module = tmp_path / "lifecycle.py"
    module.write_text("from shared.adapters.table_events import TableEventStore\n")
    [(_, imported)] = core_imports(module)
    assert not allowed(imported, ALLOWED["domain"])
