"""Every code example in the documentation runs.

- Each page of `docs/*.md` (and the README) with ```python blocks is one test: its blocks run
  in order in one namespace, as a reader would paste them. A block right after a
  `<!-- no-run -->` line is skipped (it needs the network, weights or a server); keep those few.
- Each docstring of `tf_gradcam` holding `>>>` lines is one test, run by `doctest`: statements
  are executed and a shown output is compared (`ELLIPSIS` and `NORMALIZE_WHITESPACE` on), so
  show an output only where it is deterministic.

Both run in the namespace the examples are written against: `tfg`, `np`, `tf`, `keras`,
`model` (the bundled shapes CNN: 64x64x3, two classes), `images` (two generated scenes,
`(2, 64, 64, 3)` uint8) and `image` (`images[0]`), in a temporary working directory.
"""

import doctest
import importlib
import pathlib
import pkgutil
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_gradcam as tfg
from tf_gradcam import demo, synthetic

ROOT = pathlib.Path(__file__).resolve().parent.parent
NO_RUN = "<!-- no-run -->"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
PAGES = sorted(ROOT.glob("docs/**/*.md")) + [ROOT / "README.md"]
# Examples known to fail, in files whose owners are fixing them: strict, so a fixed one fails
# here until it is taken off this list. Test id -> the fix.
KNOWN_FAILING = {}


def _known(param_id):
    if param_id in KNOWN_FAILING:
        return [pytest.mark.xfail(strict=True, reason=KNOWN_FAILING[param_id])]
    return []


@pytest.fixture(scope="module")
def namespace():
    model = keras.saving.load_model(demo.MODEL_PATH, compile=False)
    images = synthetic.make_scenes(2, seed=0, both=True).images
    return {"tfg": tfg, "np": np, "tf": tf, "keras": keras, "model": model,
            "images": images, "image": images[0]}


@pytest.fixture
def globs(namespace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples may write files
    model = keras.models.clone_model(namespace["model"])  # examples may train it
    model.set_weights(namespace["model"].get_weights())
    return {**namespace, "model": model, "__name__": "__docs__"}


def python_blocks(text):
    """`(line, code)` of each ```python block not marked `<!-- no-run -->`."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip().splitlines()
        if before and before[-1].strip() == NO_RUN:
            continue
        blocks.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


@pytest.mark.parametrize("page", [
    pytest.param(p, id=str(p.relative_to(ROOT)), marks=_known(str(p.relative_to(ROOT))))
    for p in PAGES if python_blocks(p.read_text())])
def test_markdown_examples_run(page, globs):
    for line, code in python_blocks(page.read_text()):
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), globs)
        except Exception as err:
            raise AssertionError(
                f"the ```python block at {page.relative_to(ROOT)}:{line} failed: "
                f"{type(err).__name__}: {err}") from err


def _modules():
    yield "tf_gradcam"
    for info in pkgutil.walk_packages(tfg.__path__, "tf_gradcam."):
        if info.name.rsplit(".", 1)[-1] != "__main__":  # importing it would run it
            yield info.name


def _docstring_examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError as err:  # an optional dependency (Beam) is not installed
            found.append(pytest.param(None, id=name, marks=pytest.mark.skip(reason=str(err))))
            continue
        for test in finder.find(module, name):
            if test.examples:
                found.append(pytest.param(test, id=test.name, marks=_known(test.name)))
    return found


def test_every_module_is_collected():
    assert {p.id for p in _docstring_examples()} >= {"tf_gradcam", "tf_gradcam.core.GradCAM"}


@pytest.mark.parametrize("example", _docstring_examples())
def test_docstring_examples_run(example, globs):
    example.globs = dict(globs)
    report = []
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(example, out=report.append, clear_globs=True)
    assert result.failed == 0, "".join(report)
