"""The library's layering (DESIGN.md §2): each first-level part imports only parts below it,
counting imports inside functions, so there are no import cycles; no module is over 450 lines."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "genmodels"
# Lowest first. A part may import only parts that come before it.
LAYERS = ("config", "parallel", "workdir", "nn", "distributions", "data", "models", "flows",
          "losses", "metrics", "methods", "evaluation", "train", "api", "sweeps")
MAX_LINES = 450


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def _part(path: pathlib.Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_parts(path: pathlib.Path) -> set[str]:
    """First-level parts of genmodels that `path` imports anywhere (module level or inside a
    function)."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "genmodels":
                names = [f"genmodels.{a.name}" for a in node.names]
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "genmodels" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


def test_every_part_has_a_layer():
    assert {_part(p) for p in _modules()} <= set(LAYERS)


def test_parts_import_only_lower_layers():
    violations = []
    for path in _modules():
        part = _part(path)
        for other in _imported_parts(path) - {part}:
            if LAYERS.index(other) > LAYERS.index(part):
                violations.append(f"{path.relative_to(PACKAGE.parent)} ({part}) imports {other}")
    assert not violations, "\n".join(violations)


def test_no_cycle_among_parts():
    graph = {}
    for path in _modules():
        graph.setdefault(_part(path), set()).update(_imported_parts(path) - {_part(path)})
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                pytest.fail("import cycle: " + " -> ".join(stack + [node, nxt]))
            if nxt not in state:
                visit(nxt, stack + [node])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [])


def test_modules_are_short():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in _modules()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_checks_see_deferred_imports(tmp_path):
    """A deferred (function-level) import counts: the checks cannot be dodged that way."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from genmodels import api  # noqa\n    return api\n")
    assert _imported_parts(module) == {"api"}
