"""Imports flow one way: command-line tools -> trainer -> config -> models and data -> a small ground
layer. A module may import modules of its own layer or below, never above (lazy imports inside
functions included). Tools take only ``Trainer`` from ``trainer.py``; benchmarks never import tests, and
tests import a benchmark only to run its command line."""
from __future__ import annotations

import ast
from pathlib import Path
from training_utils.paths import REPO_ROOT


GROUND, MODELS_AND_DATA, CONFIG, TRAINER, TOOLS = range(5)
LAYER_NAMES = ["ground", "models/data", "config", "trainer", "tools"]
# training_utils holds three layers: what everything may use, the config loader and what builds on it, and
# the trainer with what only training needs.
TRAINING_UTILS = {
    GROUND: ["errors", "text", "atomic_files", "paths", "quantization", "run_folder", "distributed", "runtime",
             "metrics", "checkpoints", "binary_optimizer", "recipes", "release_vocabulary", "registry"],
    CONFIG: ["config", "init_selection", "run_reuse", "launchers", "run_info", "model_loading", "bit_accounting",
             "evaluation", "decoder_finetuning"],
    TRAINER: ["trainer", "cli"],
}
TOOL_SCRIPTS = ["train", "print_intermediates", "extract_weights", "test_simulated_scamp", "test_scamp_outputs"]
BENCHMARK_TOOLS_TESTS_RUN = {"benchmarks.seed_sweep", "benchmarks.paper_table", "benchmarks.fit_chip_model"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    files = [*REPO_ROOT.glob("*.py")]
    for package in ("data_utils", "model_utils", "training_utils", "benchmarks", "scamp5"):
        files += (REPO_ROOT / package).rglob("*.py")
    return {module_name(f): f for f in files if ".venv" not in f.parts}


def layer(module: str) -> int | None:
    top, _, rest = module.partition(".")
    if top in ("data_utils", "model_utils"):
        return MODELS_AND_DATA
    if top == "training_utils":
        if not rest:
            return GROUND
        name = rest.split(".")[0]
        found = [level for level, names in TRAINING_UTILS.items() if name in names]
        assert found, f"training_utils.{name} has no layer: add it to TRAINING_UTILS in {Path(__file__).name}"
        return found[0]
    if top in TOOL_SCRIPTS or top in ("benchmarks", "scamp5"):
        return TOOLS
    return None


def imports(path: Path, module: str):
    """(line, imported module, imported names) for every import in the file, relative ones resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield node.lineno, target, [alias.name for alias in node.names]


def resolve(target: str, names: list[str], known: dict[str, Path]) -> list[str]:
    """The project modules an import statement loads (``from pkg import mod`` loads ``pkg.mod``)."""
    out = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
    if not out:
        candidates = [m for m in known if target == m or target.startswith(m + ".")]
        out = [max(candidates, key=len)] if candidates else []
    return out


def test_imports_flow_one_way():
    known = project_modules()
    wrong = []
    for module, path in sorted(known.items()):
        own = layer(module)
        for line, target, names in imports(path, module):
            for imported in resolve(target, names, known):
                theirs = layer(imported)
                if own is not None and theirs is not None and theirs > own:
                    wrong.append(f"{path.relative_to(REPO_ROOT)}:{line}: {module} ({LAYER_NAMES[own]}) imports "
                                 f"{imported} ({LAYER_NAMES[theirs]})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_tools_take_only_the_trainer_from_trainer_py():
    known = project_modules()
    wrong = []
    for module, path in sorted(known.items()):
        if layer(module) != TOOLS:
            continue
        for line, target, names in imports(path, module):
            if target == "training_utils.trainer" and set(names) - {"Trainer"}:
                wrong.append(f"{path.relative_to(REPO_ROOT)}:{line}: imports {sorted(set(names) - {'Trainer'})}")
    assert not wrong, "helpers imported from trainer.py (they belong in a module below it):\n" + "\n".join(wrong)


def test_tests_and_benchmarks_do_not_share_code_through_each_other():
    test_modules = {p.stem for p in (REPO_ROOT / "tests").glob("*.py")}
    wrong = []
    for path in sorted((REPO_ROOT / "benchmarks").glob("*.py")):
        for line, target, _ in imports(path, module_name(path)):
            if target.split(".")[0] in test_modules | {"tests"}:
                wrong.append(f"{path.relative_to(REPO_ROOT)}:{line}: imports {target} from tests/")
    for path in sorted((REPO_ROOT / "tests").glob("*.py")):
        for line, target, names in imports(path, path.stem):
            loaded = {f"{target}.{n}" for n in names} if target == "benchmarks" else {target}
            for imported in loaded:
                if imported.split(".")[0] == "benchmarks" and imported not in BENCHMARK_TOOLS_TESTS_RUN:
                    wrong.append(f"{path.relative_to(REPO_ROOT)}:{line}: imports {imported} from benchmarks/")
    assert not wrong, "\n".join(wrong)


def test_no_sys_path_changes():
    files = [p for p in REPO_ROOT.rglob("*.py") if not {".venv", "build", ".git"} & set(p.parts)]
    needles = ["sys.path." + "insert", "sys.path." + "append", "sys.path" + "[", "sys.path" + " ="]
    wrong = [f"{p.relative_to(REPO_ROOT)}: {n}" for p in files for n in needles if n in p.read_text(encoding="utf-8")]
    assert not wrong, f"sys.path changed in {wrong}: the project is installed with `pip install -e .` (make venv)"
