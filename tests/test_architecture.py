"""The architecture as docs/architecture.md states it, checked on the source: layers import one way (bench ->
fastgen -> envs), no module-level import cycles, the baselines import nothing of PoliGen's, and the names of the
engines and of the algorithms are each spelled in one place."""

import ast
import dataclasses
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "fastgen", "bench")
ALGORITHM_NAMES = {"poligen", "ars", "ddpg", "udrl"}
ENGINE_NAMES = {"cpu", "mjx", "warp"}


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


# Registers the toy before fastgen.config composes Config, as a line in fastgen.algorithms.REGISTRY would.
_WITH_TOY = """
import sys
from fastgen import algorithms
algorithms.REGISTRY["toy"] = algorithms.Registered("tests.toy_algorithm", "tests.toy_settings")
from fastgen import run
args = sys.argv[1:]
print("codes", run.main([*args, "--total-steps", "400"]), run.main([*args, "--total-steps", "800", "--resume"]),
      run.main([*args, "--total-steps", "800", "--toy.noise", "0", "--out", args[-1] + "-bad"]))
"""


def test_a_new_algorithm_is_one_module_and_one_registry_line(tmp_path):
    """The toy and its --toy.noise train, resume and validate through fastgen.run, fastgen.config untouched."""
    out = tmp_path / "run"
    args = ["--algo", "toy", "--env", "inverted_pendulum", "--num-envs", "4", "--engine", "cpu", "--eval.every", "200",
            "--eval.episodes", "2", "--toy.noise", "0.05", "--out", str(out)]
    done = subprocess.run([sys.executable, "-c", _WITH_TOY, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert "codes 0 0 2" in done.stdout, done.stdout + done.stderr
    assert "--toy.noise must be > 0, got 0.0" in done.stderr and not (tmp_path / "run-bad").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["algo"] == "toy" and summary["finished"] and summary["env_steps"] >= 800
    assert json.loads((out / "config.json").read_text())["toy"] == {"noise": 0.05}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r["env_steps"] for r in rows]
    assert steps[0] == 0 and steps == sorted(set(steps)) and len(steps) >= 3 and all("eval/return" in r for r in rows)


def test_config_is_the_shared_options_and_each_algorithms_own():
    from fastgen import algorithms, config

    sections = {name: set(algorithms.settings(name).SECTIONS) for name in algorithms.REGISTRY}
    fields = {f.name for f in dataclasses.fields(config.Config)}
    assert all(owned <= fields for owned in sections.values())
    assert not any(a != b and sections[a] & sections[b] for a in sections for b in sections)  # each owned once
    shared = {f.name for f in dataclasses.fields(config.SharedConfig)}
    assert not shared & set().union(*sections.values()) and "algo" in shared and "eval" in shared
    tree = ast.parse(Path(config.__file__).read_text())  # no algorithm's settings or presets defined in config.py
    assert {node.name for node in tree.body if isinstance(node, ast.ClassDef)} == {"EvalConfig", "SharedConfig"}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not {n for n in names if "PRESETS" in n or "DEFAULTS" in n}
