"""The package's layering, read from the source: the engine imports no frontend, frontends use only public
engine names, no module imports another module's private (``_``) names, and no import cycle exists — neither
between module-level imports nor through imports inside functions.

Parsed with ``ast`` from the repository's folders (mapped as ``pyproject.toml`` maps them), so the test sees
every import, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> package, as pyproject.toml's package-dir maps them
FOLDERS = {"frontends": "sortslice", "engine": "sortslice.engine", "schemas": "sortslice.schemas"}
#: attributes of featurisers that are theirs alone (frontends go through fitted_state, examples_, ...)
PRIVATE_STATE = {
    "_examples",
    "_scan_examples",
    "_record_examples",
    "_out_dtype",
    "_set_vocabulary",
    "_vocabulary_only",
    "_table",
    "_single_state",
    "_single",
    "_lookup",
    "_method",
    "_score_name",
    "_ids",
    "_pool",
    "_fit",
    "_restore",
    "_state_fields",
}


def _modules() -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package)."""
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = list(rel.parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            out[".".join([package, *parts]) if parts else package] = (path, is_pkg)
    return out


MODULES = _modules()
#: imports of sortslice modules made inside functions: each keeps ``import sortslice`` light (the compiled
#: scoring kernel, the command line, Dask and the file layer load when first used) — none breaks a cycle,
#: which the test above forbids.  The count may only go down.
LAZY_INTERNAL_IMPORTS = 49


def _imports(name: str):
    """(imported module, imported names, line, at module level) for every import statement of ``name``."""
    path, is_pkg = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[: len(base) - node.level + 1]
                mod = ".".join(parent + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [a.name for a in node.names]
            # ``from pkg import submodule`` imports the submodule
            subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in MODULES]
            yield mod, [n for n in names if f"{mod}.{n}" not in MODULES], node.lineno, id(node) in top
            for s in subs:
                yield s, [], node.lineno, id(node) in top


def _is_engine(mod: str) -> bool:
    return mod == "sortslice.engine" or mod.startswith("sortslice.engine.")


def _is_cli(mod: str) -> bool:
    return mod == "sortslice.cli" or mod.startswith("sortslice.cli.")


def test_the_tree_was_read():
    assert {
        "sortslice",
        "sortslice.cli.main",
        "sortslice.engine.morgan",
        "sortslice.engine.featurisers.base",
        "sortslice.schemas",
    } <= set(MODULES)


def test_the_io_layer_knows_no_click_or_dask():
    bad = [
        f"{name}:{line} imports {mod}"
        for name in MODULES
        if name.startswith("sortslice.io")
        for mod, _, line, _ in _imports(name)
        if mod.split(".")[0] in ("click", "dask", "distributed") or _is_cli(mod)
    ]
    assert not bad, bad


def test_the_engine_imports_no_frontend():
    bad = []
    for name in MODULES:
        if not _is_engine(name):
            continue
        for mod, _, line, _ in _imports(name):
            if mod.startswith("sortslice") and not (_is_engine(mod) or mod == "sortslice.schemas"):
                bad.append(f"{name}:{line} imports {mod}")
    assert not bad, bad


def test_frontends_use_only_public_names():
    bad = []
    for name, (path, _) in MODULES.items():
        if _is_engine(name) or name == "sortslice.schemas":
            continue
        for mod, names, line, _ in _imports(name):
            outside_cli = _is_cli(mod) and not _is_cli(name)
            if _is_engine(mod) or outside_cli:
                if any(part.startswith("_") for part in mod.split(".")):
                    bad.append(f"{name}:{line} imports the private module {mod}")
                bad += [f"{name}:{line} imports {mod}.{n}" for n in names if n.startswith("_")]
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in PRIVATE_STATE
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                bad.append(f"{name}:{node.lineno} uses a featuriser's private {node.attr}")
    assert not bad, "\n".join(bad)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if state.get(m) is None:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if state.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def _module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        edges = graph.setdefault(name, set())
        for mod, _, _, at_top in _imports(name):
            if not at_top:
                continue
            # importing a.b.c runs the packages a.b first (the root package is the entry point itself)
            parts = mod.split(".")
            for k in range(2, len(parts) + 1):
                target = ".".join(parts[:k])
                # (a package's own submodules import from it while it initialises: not a cycle)
                if target in MODULES and target != name and not name.startswith(target + "."):
                    edges.add(target)
    return graph


def test_no_module_level_import_cycle():
    cycle = _cycle(_module_graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_import_cycle_through_function_level_imports():
    """An import inside a function is a dependency too: a circle through one is a circle."""
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        edges = graph.setdefault(name, set())
        for mod, _, _, _ in _imports(name):
            parts = mod.split(".")
            target = next(
                (".".join(parts[:k]) for k in range(len(parts), 1, -1) if ".".join(parts[:k]) in MODULES), None
            )
            if target and target != name and not name.startswith(target + ".") and not target.startswith(name + "."):
                edges.add(target)
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_no_private_name_is_imported_from_another_module():
    """A leading underscore means "only this module uses it": no ``from x import _name`` across modules."""
    bad = [
        f"{name}:{line} imports {mod}.{n}"
        for name in MODULES
        for mod, names, line, _ in _imports(name)
        if mod.startswith("sortslice") and mod != name
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert not bad, "\n".join(bad)


def test_function_level_imports_are_counted():
    """Imports inside functions (lazy imports of heavy optional dependencies, mostly) are few and known."""
    inside = sorted(f"{name}:{line} {mod}" for name in MODULES for mod, _, line, at_top in _imports(name) if not at_top)
    sortslice_inside = [i for i in inside if i.split(" ")[1].startswith("sortslice")]
    # within the package an import inside a function hides a dependency: only the lazy entry points
    # listed here may do it (each breaks an import-time cost, not a cycle)
    assert len(sortslice_inside) <= LAZY_INTERNAL_IMPORTS, "\n".join(sortslice_inside)


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _is_engine(n)))
def test_every_engine_module_says_what_it_is(name):
    path, _ = MODULES[name]
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc) > 40, f"{name} has no module docstring naming its stage"
