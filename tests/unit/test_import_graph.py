"""The import graph of host/ and firmware/ has no cycle, between modules or between packages,
counting every import (module level and inside functions): an AST scan, no code is run.

Packages are dtacore, dtanode, and dta's subpackages (dta.anchor, dta.log, ...); a module
directly in dta/ (dta.config, dta.errors, ...) is a node of its own. Besides the cycles, the
layering the architecture promises is checked: dtacore imports neither dta nor dtanode, and
nothing outside dta.cli imports dta.cli."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "host", ROOT / "firmware"]


def _modules() -> dict[str, Path]:
    out = {}
    for base in SOURCES:
        for path in base.rglob("*.py"):
            rel = path.relative_to(base).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts and parts[0] in ("dta", "dtacore", "dtanode"):
                out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            # the longest known module the import names (a "from x import name" of a function
            # counts as an import of x)
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _package(name: str) -> str:
    parts = name.split(".")
    if parts[0] != "dta":
        return parts[0]
    return ".".join(parts[:2])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    # Tarjan's strongly connected components, iteratively; any component with more than one
    # node (or a self loop) is a cycle.
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1 or node in graph.get(node, ()):
                    out.append(sorted(comp))
    return out


def test_the_scan_sees_the_tree():
    graph = _graph()
    assert {"dtacore.backend", "dtanode.app", "dta.cli", "dta.log.store"} <= set(graph)
    assert "dtacore.cpython_crypto" in graph["dtacore.backend"]  # imports inside a branch count
    assert "dtacore.fixedbase" in graph["dtacore.ecdsa"]  # imports inside functions count


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_cycle_between_modules():
    assert _cycles(_graph()) == []


def test_no_cycle_between_packages():
    pkgs: dict[str, set[str]] = {}
    for name, deps in _graph().items():
        pkgs.setdefault(_package(name), set()).update(
            _package(d) for d in deps if _package(d) != _package(name))
    assert _cycles(pkgs) == []


def test_layering():
    graph = _graph()
    for name, deps in graph.items():
        if name.startswith("dtacore"):
            assert not [d for d in deps if not d.startswith("dtacore")], name
        if not name.startswith("dta.cli"):
            assert not [d for d in deps if d.startswith("dta.cli")], name
