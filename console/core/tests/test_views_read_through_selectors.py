"""Views read through selectors and fetch objects for a person only through ``get_for_role``
(each app's ``selectors.get_<thing>_for``); views and API views react to error types, never to
message text. A scan of every views and API module in the tree (outside migrations and tests)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SKIPPED_DIRS = {".venv", "node_modules", "migrations", "tests", ".git", "static", "templates"}
LOOKUP_SHORTCUTS = {"get_object_or_404", "get_list_or_404"}


def _modules(*names: str) -> list[Path]:
    found = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if SKIPPED_DIRS.intersection(parts[:-1]):
            continue
        if path.stem in names or any(name in parts[:-1] for name in names):
            found.append(path)
    return sorted(found)


def _views_modules() -> list[Path]:
    return _modules("views")


def _is_message_text(node: ast.AST) -> bool:
    """``exc.message`` or ``str(exc)``: an error's text."""
    if isinstance(node, ast.Attribute) and node.attr == "message":
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str"
            and len(node.args) == 1 and isinstance(node.args[0], ast.Name))


def _problems(path: Path, root: Path = ROOT, *, queries: bool = True) -> list[str]:
    """What ``path`` does that a view must not; ``queries=False`` checks error matching only
    (API views authenticate tokens, not people, and read their own rows)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(root)
    problems = []
    for node in ast.walk(tree):
        if queries and isinstance(node, ast.Attribute) and node.attr == "objects":
            problems.append(f"{where}:{node.lineno}: queries a model manager (.objects.); use a selector")
        elif queries and isinstance(node, ast.Name) and node.id in LOOKUP_SHORTCUTS:
            problems.append(f"{where}:{node.lineno}: {node.id} skips the role check; use a get_<thing>_for selector")
        elif isinstance(node, ast.Compare) and any(_is_message_text(n) for n in [node.left, *node.comparators]):
            problems.append(f"{where}:{node.lineno}: matches an error's message text; catch its type instead")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("startswith", "endswith") and _is_message_text(node.func.value)):
            problems.append(f"{where}:{node.lineno}: matches an error's message text; catch its type instead")
    return sorted(problems, key=lambda problem: int(problem.split(":")[1]))


def test_the_scan_sees_every_app_s_views():
    names = {str(p.relative_to(ROOT)) for p in _views_modules()}
    assert {"accounts/views.py", "mfa/views.py", "risk/views.py", "console/access/views.py",
            "shadow_ai/casb/views.py"} <= names


def test_no_view_queries_a_manager_or_matches_error_text():
    problems = [problem for path in _views_modules() for problem in _problems(path)]
    assert not problems, "\n".join(problems)


def test_no_api_view_matches_error_text():
    modules = _modules("api")
    assert any(str(p.relative_to(ROOT)) == "shadow_ai/gateway/api.py" for p in modules)
    problems = [problem for path in modules for problem in _problems(path, queries=False)]
    assert not problems, "\n".join(problems)


def test_the_scan_catches_each_kind_of_problem(tmp_path):
    sample = tmp_path / "views.py"
    sample.write_text(
        "def a(request, pk):\n"
        "    return Thing.objects.filter(pk=pk).first()\n"
        "def b(request, pk):\n"
        "    return get_object_or_404(Thing, pk=pk)\n"
        "def c(exc):\n"
        "    return 'Verify' in exc.message\n"
        "def d(exc):\n"
        "    return str(exc) == 'gone'\n"
        "def e(exc):\n"
        "    return exc.message.startswith('the body')\n"
    )
    problems = _problems(sample, root=tmp_path)
    assert [p.split(": ", 1)[0] for p in problems] == [f"views.py:{line}" for line in (2, 4, 6, 8, 10)]
