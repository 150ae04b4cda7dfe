"""The tree keeps what docs/architecture.md says about it: every installed app listed once, and
imports inside functions only where a comment says why."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _layout_block() -> list[str]:
    text = ARCHITECTURE.read_text()
    section = text.split("## Layout", 1)[1]
    return section.split("```", 2)[1].splitlines()


def _listed_directories() -> set[str]:
    """Directories the layout names: top-level entries and those indented under them, at any depth
    (``console/access/idp``: idp/ indented under access/ under console/)."""
    listed: set[str] = set()
    parents: list[tuple[int, str]] = []  # (indent, path) of the directories the next line may be inside
    for line in _layout_block():
        match = re.match(r"^( *)([\w.-]+)/(?:\s|$)", line)
        if not match:
            continue
        indent = len(match[1])
        while parents and parents[-1][0] >= indent:
            parents.pop()
        path = f"{parents[-1][1]}/{match[2]}" if parents else match[2]
        listed.add(path)
        parents.append((indent, path))
    return listed


def _our_apps() -> dict[str, str]:
    """Installed apps whose code lives in this repository: name → directory."""
    found = {}
    for config in apps.get_app_configs():
        path = Path(config.path)
        if path.is_relative_to(ROOT) and ".venv" not in path.parts:
            found[config.name] = path.relative_to(ROOT).as_posix()
    return found


def test_the_architecture_page_lists_every_installed_app():
    ours = _our_apps()
    assert {"console.core", "risk.ssf", "shadow_ai.dlp"} <= set(ours)  # the walk finds nested apps
    missing = sorted(name for name, directory in ours.items() if directory not in _listed_directories())
    assert not missing, f"docs/architecture.md, Layout, does not list the installed apps {missing}"


def test_the_architecture_page_lists_only_installed_apps():
    listed_apps = {d for d in _listed_directories() if (ROOT / d / "apps.py").exists()}
    stray = sorted(listed_apps - set(_our_apps().values()))
    assert not stray, f"docs/architecture.md lists {stray}, which INSTALLED_APPS does not"


def test_the_layout_says_nothing_twice():
    # Compared without closing punctuation: a pasted fragment often differs from its original only there.
    lines = [line.strip().rstrip(",.;)") for line in _layout_block() if line.strip()]
    repeated = sorted({line for line in lines if lines.count(line) > 1})
    assert not repeated, f"docs/architecture.md, Layout, repeats {repeated}"


def _imports_inside_functions_without_a_reason(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found = []

    def explained(node: ast.stmt) -> bool:
        if "#" in lines[node.lineno - 1]:
            return True
        above = node.lineno - 2
        # A comment may explain a block of imports: walk up over the block to the comment.
        while above >= 0 and re.match(r"\s*(from\s+\S+\s+import|import)\s", lines[above]):
            above -= 1
        return above >= 0 and lines[above].strip().startswith("#")

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                walk(child, True)
            elif isinstance(child, ast.Import | ast.ImportFrom) and in_function:
                if not explained(child):
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno}: {lines[child.lineno - 1].strip()}")
            else:
                walk(child, in_function)

    walk(ast.parse(source), False)
    return found


def test_imports_inside_functions_say_why():
    """Everything else is imported at the top of its module, where the layers contract and a
    reader see it."""
    unexplained = []
    for directory in ("console", "accounts", "mfa", "risk", "shadow_ai"):
        for path in sorted((ROOT / directory).rglob("*.py")):
            parts = set(path.relative_to(ROOT).parts)
            if parts & {"tests", "migrations", "node_modules"} or path.name == "conftest.py":
                continue
            unexplained += _imports_inside_functions_without_a_reason(path)
    unexplained += _imports_inside_functions_without_a_reason(ROOT / "manage.py")
    assert not unexplained, "imports inside functions without a comment saying why:\n" + "\n".join(unexplained)
