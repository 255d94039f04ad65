"""The package's import graph runs one way: generic helpers -> configs -> network and data -> detection core and
metrics -> tracking -> engine -> API and commands -> the package root's re-exports, and no module imports itself back
through others. ``python tests/test_layers.py`` prints the graph by subpackage and checks both."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "fscfnet"
MODULE_PATH = re.compile(r"fscfnet(\.[A-Za-z_]\w*)+")

# lower number = lower layer; a module may import its own layer's modules only within its own subpackage
LAYERS = {
    "_version": 0, "errors": 0,
    "utils": 1,
    "cfg": 2, "weights": 2,  # weights: where the shipped checkpoints are, by name (files only, no loading)
    "nn": 3, "data": 3,
    "detection": 4, "metrics": 4,
    "track": 5,  # the tracker and its metrics: numpy, scipy and the metrics, no network
    "engine": 6,
    "export": 7, "experiments": 8,
    "api": 8, "bench": 8,
    "commands": 9,
    "__main__": 10,
    "fscfnet": 11,  # the root __init__: re-exports for users, imported by no module of the package
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every ``fscfnet`` module ``path`` imports, at the top or inside functions (lazy imports count too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found |= {f"{target}.{a.name}" for a in node.names}  # a name, or a submodule: existing() decides
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_PATH.fullmatch(node.value):
            found.add(node.value)  # importlib.import_module("fscfnet.bench") (the console command's table)
    return {existing(t) for t in found if t == "fscfnet" or t.startswith("fscfnet.")}


def existing(target: str) -> str:
    """The module a dotted import resolves to: ``fscfnet.nn.build_model`` (a name) -> ``fscfnet.nn``; a name in
    the root (``fscfnet.build_model``) -> ``fscfnet``, the root, which is what such an import runs."""
    parts = target.split(".")
    while len(parts) > 1:
        path = PACKAGE.parent.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            break
        parts.pop()
    return ".".join(parts)


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "fscfnet"


def graph() -> dict[str, dict[str, set[str]]]:
    """subpackage -> imported subpackage -> the importing modules."""
    out: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        src = module_name(path)
        for target in imports(path):
            a, b = subpackage(src), subpackage(target)
            if a != b:
                out.setdefault(a, {}).setdefault(b, set()).add(src)
    return out


def test_every_subpackage_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").is_file()}
    assert names <= set(LAYERS), sorted(names - set(LAYERS))


def module_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (a package's ``__init__`` counts as the package)."""
    return {module_name(p): imports(p) - {module_name(p)} for p in sorted(PACKAGE.rglob("*.py"))}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``) if there is any, by depth-first search."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_through_others():
    cycle = find_cycle(module_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "d": {"a"}}) is None


def test_imports_run_one_way():
    """No module imports a higher layer, nor a sibling subpackage of its own layer (nn and data stay apart), nor
    the package root (whose re-exports are for users)."""
    bad = []
    for a, targets in graph().items():
        for b, sources in targets.items():
            if LAYERS[b] >= LAYERS[a]:
                bad.append(f"{a} (layer {LAYERS[a]}) imports {b} (layer {LAYERS[b]}): {sorted(sources)}")
    assert not bad, "\n".join(bad)


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a lazy import of the engine inside nn is reported."""
    pkg = tmp_path / "fscfnet"
    (pkg / "nn").mkdir(parents=True)
    (pkg / "engine").mkdir()
    for f in ("__init__.py", "nn/__init__.py", "engine/__init__.py", "engine/trainer.py"):
        (pkg / f).write_text("")
    (pkg / "nn" / "block.py").write_text("def f():\n    from ..engine.trainer import Trainer\n    return Trainer\n")
    (pkg / "nn" / "other.py").write_text("from fscfnet import engine\nfrom .. import FSCFNet, __version__\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert graph() == {"nn": {"engine": {"fscfnet.nn.block", "fscfnet.nn.other"}, "fscfnet": {"fscfnet.nn.other"}}}
    try:
        test_imports_run_one_way()
    except AssertionError as e:
        assert "nn (layer 3) imports engine (layer 6)" in str(e)
    else:
        raise AssertionError("an upward import went unnoticed")


if __name__ == "__main__":
    for a, targets in sorted(graph().items(), key=lambda kv: (LAYERS.get(kv[0], -1), kv[0])):
        print(f"{a:<18} -> " + ", ".join(f"{b}" for b in sorted(targets, key=lambda b: (LAYERS.get(b, -1), b))))
    test_every_subpackage_has_a_layer()
    test_imports_run_one_way()
    test_no_module_imports_itself_through_others()
    print("one way, no cycle")
