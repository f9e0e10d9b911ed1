"The package's shape: chapter modules stand on the foundation, never on each other; the public API is deliberate."
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "toymodels"
FOUNDATION = {"core", "fast", "results"}                       # shared by every chapter
TOOLS = {"quarto_filter", "_modidx", "__init__"}               # not part of the science


def chapter_modules() -> list[str]:
    return sorted(p.stem for p in PKG.glob("*.py") if p.stem not in FOUNDATION | TOOLS)


def toymodels_imports(path: Path) -> set[str]:
    "The toymodels modules a file imports, at any depth (absolute or relative imports)."
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:  # from .core import x, or from . import core
                out |= {mod.split(".")[0]} if mod else {a.name for a in node.names}
            elif mod.startswith("toymodels."):
                out.add(mod.split(".")[1])
            elif mod == "toymodels":
                out |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("toymodels.")}
    return out


def test_import_reader_on_examples(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from .core import a\nfrom toymodels.phase import b\nimport toymodels.geometry as g\n"
                 "def f():\n    from . import intro\n    from toymodels import __version__\n")
    assert toymodels_imports(f) == {"core", "phase", "geometry", "intro", "__version__"}


def test_there_are_chapter_modules():
    assert {"intro", "demonstrating", "phase", "geometry", "robustness"} <= set(chapter_modules())


@pytest.mark.parametrize("mod", chapter_modules())
def test_chapter_modules_import_only_the_foundation(mod):
    "Code two chapters share lives in the foundation (core, fast, results); a chapter module never imports another chapter."
    others = toymodels_imports(PKG / f"{mod}.py") - FOUNDATION - {"__version__"}
    assert others == set(), f"toymodels.{mod} imports chapter module(s) {sorted(others)}: move what they share into toymodels.core"


@pytest.mark.parametrize("mod", sorted(FOUNDATION))
def test_foundation_does_not_import_chapters(mod):
    others = toymodels_imports(PKG / f"{mod}.py") - FOUNDATION - {"__version__"}
    assert others == set(), f"foundation module toymodels.{mod} imports {sorted(others)}"


# ---------------------------------------------------------------- the public API

import re
import subprocess
import sys

import toymodels as tm


def test_star_import_is_the_researchers_vocabulary():
    ns = {}
    exec("from toymodels import *", ns)
    names = {k for k in ns if not k.startswith("__")}
    assert names == set(tm.__all__) - {"__version__"}
    assert {"ModelConfig", "TrainConfig", "train", "TrainResult", "sample_features", "evaluate_loss", "expected_loss",
            "feature_norms", "superposition", "dimensionality", "cosines", "represented", "gram", "load_result"} <= names
    assert not names & {"ENGINE_FUNCS", "STYLE", "train_torch", "resolve_engine", "importlib", "_ENGINE_FUNCS", "_STYLE"}
    assert all(callable(ns[n]) for n in names)


def test_chapter_modules_are_lazy_attributes():
    for mod in chapter_modules():
        assert getattr(tm, mod).__name__ == f"toymodels.{mod}"
    assert tm.load_result("intro_5_in_2")["W"].ndim == 4
    with pytest.raises(AttributeError):
        tm.no_such_thing


def test_import_is_cheap():
    "`import toymodels` imports neither torch nor numba, and takes well under a second."
    code = ("import sys, time; t = time.perf_counter(); import toymodels; dt = time.perf_counter() - t; "
            "print(dt, 'torch' in sys.modules, 'numba' in sys.modules)")
    dt, torch_loaded, numba_loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                    check=True).stdout.split()
    assert float(dt) < 1.0 and torch_loaded == "False" and numba_loaded == "False"


def test_readme_usage_block_runs():
    "The README's usage example is real code: run it as written."
    readme = (PKG.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using the package", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ns = {}
    exec(block, ns)
    assert tuple(ns["result"].W.shape) == (10, 5, 2)


@pytest.mark.parametrize("name", ["ModelConfig", "sweep_config", "expected_loss", "load_result"])
def test_docstring_examples_run(name):
    "The runnable examples in the main entry points' docstrings give the outputs they show."
    import doctest
    obj = getattr(tm, name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    mod = __import__(obj.__module__, fromlist=["_"])
    tests = finder.find(obj, name, globs=vars(mod).copy())
    assert sum(len(t.examples) for t in tests) >= 2, f"{name} has no runnable example"
    for t in tests: runner.run(t)
    assert runner.failures == 0
