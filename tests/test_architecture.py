"""The architecture as docs/architecture.md states it, checked on the source: layers import one way (bench ->
fastgen -> envs), no module-level import cycles, the baselines import nothing of PoliGen's, and the names of the
engines and of the algorithms are each spelled in one place."""

import ast
import json
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "fastgen", "bench")
ALGORITHM_NAMES = {"poligen", "ars", "ddpg", "udrl"}
ENGINE_NAMES = {"cpu", "mjx"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """The project modules ``path`` imports (``from a import b`` counts as ``a.b`` where that is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in PACKAGES)
    return found


def test_layers_import_one_way():
    rank = {"envs": 0, "fastgen": 1, "bench": 2}
    wrong = [f"{module} imports {imported}" for module, path in MODULES.items()
             for imported in _imports(path, top_level_only=False)
             if rank[imported.split(".")[0]] > rank[module.split(".")[0]]]
    assert not wrong, wrong


def test_no_module_level_import_cycles():
    graph = {m: {i for i in _imports(p, top_level_only=True) if i in MODULES and i != m} for m, p in MODULES.items()}
    state, cycles = defaultdict(int), []

    def visit(node, stack):
        state[node] = 1
        for nxt in graph[node]:
            if state[nxt] == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif state[nxt] == 0:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in graph:
        if state[module] == 0:
            visit(module, [module])
    assert not cycles, cycles


def test_the_baselines_import_nothing_of_poligen():
    wrong = [f"{module} imports {imported}" for module, path in MODULES.items() if module.startswith("fastgen.baselines")
             for imported in _imports(path, top_level_only=False) if imported.startswith("fastgen.poligen")]
    assert not wrong, wrong


def _name_lists(path: Path, names: set[str], keys: bool = False):
    """Lines of ``path`` with a list of ``names``: a tuple, list or set literal (with ``keys``, also a dict's keys)
    made of two or more of them and nothing else (``"auto"`` may stand beside the engines). Tables keyed by them
    elsewhere (the paper's numbers per algorithm) are data, not lists to keep in step."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = node.elts
        elif keys and isinstance(node, ast.Dict):
            items = node.keys
        else:
            continue
        strings = [e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else None for e in items]
        if len(set(strings) & names) >= 2 and set(strings) <= names | {"auto"}:
            yield node.lineno


@pytest.mark.parametrize("names, home", [(ENGINE_NAMES, "envs.make"), (ALGORITHM_NAMES, "fastgen.algorithms")])
def test_engine_and_algorithm_names_are_defined_once(names, home):
    """Defined once in their home module (a tuple, or the registry's keys); any list of them elsewhere is one more
    place to keep in step with it."""
    assert len(list(_name_lists(MODULES[home], names, keys=True))) == 1
    elsewhere = [f"{module}:{line}" for module, path in MODULES.items() if module != home
                 for line in _name_lists(path, names)]
    assert not elsewhere, elsewhere


def test_a_new_algorithm_is_one_module_and_one_registry_line(tmp_path, monkeypatch, capsys):
    from fastgen import algorithms, run

    monkeypatch.setitem(algorithms.MODULES, "toy", "tests.toy_algorithm")
    args = ["--algo", "toy", "--env", "inverted_pendulum", "--num-envs", "4", "--engine", "cpu", "--eval.every", "200",
            "--eval.episodes", "2", "--out", str(tmp_path / "run")]
    assert run.main([*args, "--total-steps", "400"]) == 0
    assert run.main([*args, "--total-steps", "800", "--resume"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["algo"] == "toy" and summary["finished"] and summary["env_steps"] >= 800
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r["env_steps"] for r in rows]
    assert steps[0] == 0 and steps == sorted(set(steps)) and len(steps) >= 5 and all("eval/return" in r for r in rows)
