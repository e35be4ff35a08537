"""The deployment package holds what runs in Azure and nothing else: `.funcignore` is an
allow-list. The package is computed here from `.funcignore` the way `azd deploy` builds
it, over the files of this working tree.

How azd builds it (Azure/azure-dev, `cli/azd/pkg/project/project_utils.go`,
`createDeployableZip`, with `github.com/denormal/go-gitignore`):

- it walks the service folder; every file *and folder* is judged on its own by the last
  `.funcignore` line that matches it, and a folder that is left out is not entered, so
  a file is kept only when it and each of its folders are kept;
- a line ending in `/` matches folders only; a line with no other `/` matches the last
  name of a path, at any depth (with a leading `/`, the whole path, and then `*` crosses
  `/`); a line with a `/` inside matches the whole path one name per part, `**` any
  number of names (`pattern.go`);
- it always leaves out `.funcignore` itself, `local.settings.json` and `.azure/`.

pathspec judges a file by its full path, and there a line matching a folder matches
everything under it (`!/shared/` keeps `shared/notes.txt`), so it cannot stand in for
that walk. `Line` below mirrors go-gitignore's three kinds of line instead; pathspec's
reading under git's own rules is kept as a cross-check, so the file never leans on a
go-gitignore quirk (such as `/*` matching every path)."""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

import pathspec

ROOT = Path(__file__).resolve().parents[2]
RULES = (ROOT / ".funcignore").read_text(encoding="utf-8-sig").splitlines()
ALWAYS_LEFT_OUT = {".funcignore", "local.settings.json"}

# What the host, the remote build and the worker need, besides the two packages.
TOP_LEVEL = {"function_app.py", "host.json", "requirements.txt"}
DATA_FILES = {
    "shared/platform_openapi.json",
    "shared/api/web/dashboard.html",
    "shared/api/web/dashboard.css",
    "shared/api/web/dashboard.js",
    "shared/api/web/chart.js",
    "shared/api/web/admin.js",
    "shared/api/web/openapi.json",
}
NEVER_DEPLOYED = (
    "local/",
    "tests/",
    "benchmarks/",
    "scripts/",
    "infra/",
    "docs/",
    "integrations_cli/",
    ".ci/",
    "node_modules/",
    ".venv/",
    ".git/",
    ".github/",
    ".vscode/",
)
# Files a working tree may hold that git does not list; azd would see them.
STRAYS = (
    "local.settings.json",
    "local.settings.sample.json",
    ".env",
    "secrets.json",
    "shared/local.settings.json",
    "shared/__pycache__/models.cpython-311.pyc",
    "actions/__pycache__/base.cpython-311.pyc",
    "shared/domain/models.pyc",
    ".venv/lib/python3.11/site-packages/httpx/__init__.py",
    "node_modules/azurite/package.json",
    "__azurite_db_table__.json",
    "__blobstorage__/payloads/x.json",
    ".azure/prod/.env",
    "shared/notes.md",
    "README.md",
    "pyproject.toml",
)


@dataclass(frozen=True)
class Line:
    """One `.funcignore` line, matched as go-gitignore matches it."""

    keep: bool
    anchored: bool
    folders_only: bool
    parts: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Line:
        keep = text.startswith("!")
        text = text.removeprefix("!")
        anchored = text.startswith("/")
        text = text.removeprefix("/")
        folders_only = text.endswith("/")
        return cls(keep, anchored, folders_only, tuple(text.removesuffix("/").split("/")))

    def matches(self, path: str, is_folder: bool) -> bool:
        if self.folders_only and not is_folder:
            return False
        names = path.split("/")
        if any("**" in part for part in self.parts):
            return _match_any(names, [part for part in self.parts if part])
        if len(self.parts) == 1:
            # A name: the last name of the path, or the whole path when anchored (then
            # without FNM_PATHNAME, so `*` crosses `/`, as fnmatchcase does).
            return fnmatchcase(path if self.anchored else names[-1], self.parts[0])
        return len(names) == len(self.parts) and all(map(fnmatchcase, names, self.parts))


def _match_any(names: list[str], parts: list[str]) -> bool:
    """`**` matches no name or any number of them; other parts match one name each."""
    if not parts:
        return not names
    if parts[0] == "**":
        return _match_any(names, parts[1:]) or (bool(names) and _match_any(names[1:], parts))
    return bool(names) and fnmatchcase(names[0], parts[0]) and _match_any(names[1:], parts[1:])


LINES = [Line.parse(text.strip()) for text in RULES if text.strip() and not text.startswith("#")]


def _left_out(path: str, is_folder: bool) -> bool:
    for line in reversed(LINES):
        if line.matches(path, is_folder):
            return not line.keep
    return False


def in_package(path: str) -> bool:
    """Whether `azd deploy` puts this file (a path from the service folder) in the zip."""
    posix = PurePosixPath(path)
    if posix.name in ALWAYS_LEFT_OUT or ".azure" in posix.parts[:-1]:
        return False
    folders = [str(parent) for parent in reversed(posix.parents) if str(parent) != "."]
    return not any(_left_out(folder, True) for folder in folders) and not _left_out(path, False)


def working_tree_files() -> list[str]:
    """Tracked files, and new ones not yet added that git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({path for path in listed.split("\0") if path and (ROOT / path).is_file()})


FILES = working_tree_files()
PACKAGE = {path for path in FILES if in_package(path)}


def is_test(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.startswith("test_") or name == "conftest.py"


def test_the_package_is_the_entry_point_the_two_packages_and_their_data() -> None:
    core = {
        path
        for path in FILES
        if path.startswith(("shared/", "actions/"))
        and (path.endswith(".py") or path in DATA_FILES)
        and not is_test(path)
    }
    assert TOP_LEVEL | core == PACKAGE


def test_every_file_of_the_two_packages_is_deployed() -> None:
    core = [p for p in FILES if p.startswith(("shared/", "actions/")) and not is_test(p)]
    missing = [p for p in core if p not in PACKAGE]
    assert missing == [], f"add them to .funcignore, or move them out of the package: {missing}"


def test_the_files_the_core_reads_at_run_time_are_deployed() -> None:
    assert DATA_FILES <= PACKAGE


def test_nothing_local_test_or_tooling_is_deployed() -> None:
    assert [p for p in PACKAGE if p.startswith(NEVER_DEPLOYED)] == []


def test_settings_secrets_caches_and_strays_are_never_deployed() -> None:
    assert [path for path in STRAYS if in_package(path)] == []


def _module_file(module: str) -> str | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(ROOT).as_posix()
    return None


def _imports(path: str) -> set[str]:
    """The project's modules a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text(), path)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            parts = name.split(".")
            # A package's __init__ runs before any of its modules.
            found |= {f for i in range(len(parts)) if (f := _module_file(".".join(parts[: i + 1])))}
    return found


def test_everything_function_app_imports_is_deployed() -> None:
    seen: set[str] = set()
    todo = ["function_app.py"]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(_imports(path))
    assert "shared/bootstrap.py" in seen  # the walk reaches the core
    assert sorted(seen - PACKAGE) == []


def test_the_allow_list_means_the_same_under_git_rules() -> None:
    git_reading = pathspec.GitIgnoreSpec.from_lines(RULES)
    kept_by_git = {p for p in FILES if not git_reading.match_file(p)} - ALWAYS_LEFT_OUT
    assert kept_by_git == PACKAGE


def test_the_walk_matches_go_gitignore_on_known_cases() -> None:
    # From go-gitignore's pattern.go: `*` is a name (matches at any depth); `dir/**`
    # also matches `dir` itself; a folders-only line never matches a file.
    assert Line.parse("*").matches("shared/api/web/x.js", False)
    assert Line.parse("shared/**").matches("shared", True)
    assert not Line.parse("__pycache__/").matches("__pycache__", False)
    assert Line.parse("/*").matches("shared/domain/models.py", False)
    assert not Line.parse("shared/*.py").matches("shared/adapters/x.py", False)
    assert Line.parse("!/shared/**/*.py").matches("shared/adapters/x.py", False)
