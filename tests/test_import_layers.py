"""No import loops among the project's own modules (rag/, embeddings/, ui/).

The graph is read statically with ``ast`` (nothing is imported, so the test is fast): every
``import`` / ``from … import`` statement counts, including those inside functions, under
``if TYPE_CHECKING`` or in ``try`` blocks, since a lazy import only hides a loop. An edge goes
to the most specific project module the statement names (``from rag.answer import markers``
-> ``rag.answer.markers`` when that file exists, else ``rag.answer``); parent packages are not
added implicitly. Any strongly connected component of more than one module is a loop.

The layers (docs/architecture.md draws them) are listed in ``LAYERS``, lowest first; a module may
import its own layer and the ones below, never one above. A module belongs to the layer of the
longest prefix naming it; every project module must have one.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "embeddings", "ui")

# Lowest first. "rag" alone is the facade package (rag/__init__.py), not every rag.* module.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("ground: shared grammar and records", ("rag.config", "rag.types", "rag.text")),
    ("engines: models, index, LLM, judge", ("embeddings", "rag.index", "rag.llm", "rag.judge", "rag.models",
                                            "rag.parallel")),
    ("stages: ingest, retrieve, answer, chat, regions, summaries, eval",
     ("rag.ingest", "rag.retrieve", "rag.answer", "rag.chat", "rag.chat_frame", "rag.regions", "rag.summarize",
      "rag.eval", "rag.validate", "rag.warmup")),
    ("facade: Pipeline and the public API", ("rag.pipeline", "rag")),
    ("faces and tools: CLI, UI, judge training", ("rag.cli", "rag.__main__", "ui", "rag.judge.train",
                                                  "rag.judge.calibrate", "rag.judge.evalsets")),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Map every project module name to its file."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a project module."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        cand = ".".join(parts[:n])
        if cand in modules:
            return cand
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``module`` imports anywhere in its file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = _resolve_relative(module, is_package, node.level, node.module)
            # `from pkg import sub` names the submodule when one exists, else a name of pkg.
            names = [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
        for name in names:
            target = _target(name, modules)
            if target:
                found.add(target)
    found.discard(module)  # a module naming itself (e.g. under `if __name__ == "__main__"`) is no loop
    return found


def import_graph() -> dict[str, set[str]]:
    """The project's module import graph."""
    modules = project_modules()
    return {mod: imports_of(mod, path, modules) for mod, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); returns components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _describe(comp: list[str], graph: dict[str, set[str]]) -> str:
    members = set(comp)
    edges = [f"    {a} -> {b}" for a in comp for b in sorted(graph[a] & members)]
    return "loop of " + ", ".join(comp) + ":\n" + "\n".join(edges)


def test_graph_sees_project_imports():
    graph = import_graph()
    assert "rag.pipeline" in graph and "embeddings.encoder" in graph and "ui.app" in graph
    assert any(graph.values()), "no project imports found: the parser is broken"


def test_lazy_and_relative_imports_are_edges(tmp_path):
    src = tmp_path / "a.py"
    src.write_text("import os\n\ndef f():\n    from pkg import b, helper\n    from .c import x\n    import pkg.d.e\n",
                   encoding="utf-8")
    modules = {name: src for name in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d")}
    assert imports_of("pkg.a", src, modules) == {"pkg", "pkg.b", "pkg.c", "pkg.d"}


def test_loop_detector_finds_a_loop():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == [["a", "b", "c"]]


def test_no_import_loops():
    graph = import_graph()
    loops = strongly_connected(graph)
    assert not loops, "import loops:\n" + "\n".join(_describe(c, graph) for c in loops)


def layer_of(module: str) -> int | None:
    """Index in ``LAYERS`` of the longest prefix naming ``module`` (None: unassigned)."""
    best: tuple[int, int] | None = None
    for i, (_name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            hit = module == p if p == "rag" else (module == p or module.startswith(p + "."))
            if hit and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return None if best is None else best[0]


def test_every_module_has_a_layer():
    unassigned = sorted(m for m in import_graph() if layer_of(m) is None)
    assert not unassigned, f"modules without a layer (add them to LAYERS and docs/architecture.md): {unassigned}"


def test_layer_check_catches_an_upward_import():
    assert layer_of("rag.text.citations") < layer_of("rag.answer.answerer") < layer_of("rag.pipeline") < layer_of("ui.app")
    assert layer_of("rag.judge.model") < layer_of("rag.judge.train")
    assert layer_of("rag") == layer_of("rag.pipeline")


def test_no_upward_imports():
    graph = import_graph()
    upward = [f"    {m} ({LAYERS[layer_of(m)][0]}) -> {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in sorted(graph.items()) for t in sorted(targets)
              if layer_of(m) is not None and layer_of(t) is not None and layer_of(t) > layer_of(m)]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


# Entry points above the facade (they may import it, like any user of the library).
ENTRY_POINTS = ("rag.cli", "rag.judge.calibrate")


def test_ui_uses_only_the_public_api():
    """ui/ reaches the library through ``from rag import <Name>``, plus rag.config and rag/text/."""
    graph = import_graph()
    deep = sorted(f"{mod} -> {target}" for mod, targets in graph.items() if mod.split(".")[0] == "ui"
                  for target in targets if target.split(".")[0] == "rag"
                  and target not in ("rag", "rag.config") and not target.startswith("rag.text"))
    assert not deep, "ui/ imports below the facade:\n" + "\n".join(deep)


def test_nothing_below_the_facade_imports_it():
    """Modules under rag/ get the pipeline from their caller; only entry points build one."""
    graph = import_graph()
    below = [mod for mod in graph if mod.split(".")[0] == "rag" and mod not in ("rag", "rag.pipeline")
             and not mod.startswith(ENTRY_POINTS)]
    found = sorted(f"{mod} -> {target}" for mod in below for target in graph[mod] & {"rag", "rag.pipeline"})
    assert not found, "imports of the facade from below it:\n" + "\n".join(found)


def _facade_exports() -> dict[str, str]:
    tree = ast.parse((ROOT / "rag" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "_EXPORTS":
            return ast.literal_eval(node.value)
    raise AssertionError("rag/__init__.py has no _EXPORTS")


def test_facade_names_are_no_submodules_and_resolve():
    """A facade name equal to a submodule would be shadowed once that submodule is imported."""
    exports = _facade_exports()
    modules = project_modules()
    assert not [n for n in exports if f"rag.{n}" in modules]
    assert all(m in modules for m in exports.values())
    import rag

    assert sorted(exports) == rag.__all__
    for name in exports:
        assert getattr(getattr(rag, name), "__name__", name) == name  # NOTE, DEFAULTS are values


def test_every_project_import_names_an_existing_module():
    """A moved module leaves no stale import behind, not even a lazy one inside a function."""
    modules = project_modules()
    scripts = {f"{d}/{p.name}": p for d in ("tests", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))}
    stale = []
    for mod, path in [*modules.items(), *scripts.items()]:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            stale += [f"{mod}:{node.lineno} {n}" for n in names if n.split(".")[0] in PACKAGES and n not in modules]
    assert not stale, "imports of modules that do not exist:\n" + "\n".join(stale)
