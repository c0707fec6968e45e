"""The leaderboard package's own imports: all at module top, and no cycle among its modules."""

import ast
from pathlib import Path

import suite.leaderboard

PACKAGE = Path(suite.leaderboard.__file__).parent


def suite_imports(tree):
    """(suite module imported, whether at module top) for every import in a module."""
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name == "suite" or name.startswith("suite."):
                yield name, id(node) in top


def graph():
    modules = {f"suite.leaderboard.{p.stem}": p for p in PACKAGE.glob("*.py")}
    edges = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[module] = sorted(
            {name for name, _ in suite_imports(tree) if name in modules and name != module}
        )
    return modules, edges


def test_every_suite_import_is_at_module_top():
    inside = [
        f"{path.name}: {name}"
        for path in sorted(PACKAGE.glob("*.py"))
        for name, at_top in suite_imports(ast.parse(path.read_text(encoding="utf-8")))
        if not at_top
    ]
    assert inside == []


def test_the_leaderboard_modules_import_each_other_without_a_cycle():
    _, edges = graph()
    done, path = set(), []

    def visit(module):
        assert module not in path, " -> ".join([*path[path.index(module) :], module])
        if module in done:
            return
        path.append(module)
        for target in edges[module]:
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(edges):
        visit(module)
    assert edges["suite.leaderboard.render"]  # the walk saw real imports, not an empty graph
