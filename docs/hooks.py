"""MkDocs hook: what the docs can say from the code is generated here at build time.

A page asks for a generated block with a marker comment on a line of its own:

- `<!-- gen:methods -->`: the methods table, from `tf_gradcam.METHODS` and each class's
  docstring (the registry is the one list of methods).
- `<!-- gen:cli-help -->`: `tf-gradcam --help` and each command's `--help`, from the parser.
- `<!-- gen:errors -->`: every error message the package raises, read from its `raise`
  statements (the code's own words: what happened, what was expected, how to fix it).
- `<!-- gen:versions -->`: the dependency bounds, from `pyproject.toml`.

The notebooks (`notebooks/*.ipynb`) and the benchmark figures (`benchmarks/*.png`) are added to
the site from where they live, so nothing is copied into `docs/` by hand.
"""

import ast
import contextlib
import io
import pathlib
import re
import tomllib

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tf_gradcam"
MARKER = re.compile(r"^<!-- gen:([a-z-]+) -->$", re.M)
# Files from outside docs/ that the site shows, at the same path as in the repository.
EXTERNAL = [("notebooks", "*.ipynb"), ("benchmarks", "*.png")]


@event_priority(100)  # before mkdocs-jupyter, so that it converts the notebooks added here
def on_files(files, config):
    for folder, pattern in EXTERNAL:
        for path in sorted((ROOT / folder).glob(pattern)):
            files.append(File(f"{folder}/{path.name}", src_dir=str(ROOT),
                              dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)


def _cell(text):
    return " ".join(text.split()).replace("|", "\\|")


def methods_table():
    """Registry name, class and the first paragraph of the class docstring, per method."""
    import tf_gradcam as tfg

    rows = ["| registry name | class | what the map is |", "| --- | --- | --- |"]
    for name, cls in tfg.METHODS.items():
        summary = (cls.__doc__ or "").strip().split("\n\n")[0]
        rows.append(f"| `{name}` | [`{cls.__name__}`][{cls.__module__}.{cls.__name__}] "
                    f"| {_cell(summary)} |")
    return "\n".join(rows)


def cli_help():
    """The parser's help for the program and each of its commands, as code blocks."""
    import argparse

    from tf_gradcam import cli

    parser = cli.build_parser()
    blocks = [("tf-gradcam --help", parser.format_help())]
    for action in parser._actions:  # argparse keeps its sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                blocks.append((f"tf-gradcam {name} --help", sub.format_help()))
    out = []
    for title, text in blocks:
        out += [f"### `{title}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(out)


def _message(node):
    """The message of a `raise X(...)` as its template: f-string fields shown as `{...}`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_message(v) if not isinstance(v, ast.FormattedValue)
                       else "{" + ast.unparse(v.value) + "}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _message(node.left), _message(node.right)
        return None if left is None or right is None else left + right
    return None


def raised_errors():
    """`(exception, message, module, function)` for every `raise` with a literal message."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                        and node.exc.args and isinstance(node.exc.func, (ast.Name, ast.Attribute))):
                    text = _message(node.exc.args[0])
                    if text:
                        kind = ast.unparse(node.exc.func).split(".")[-1]
                        found.append((kind, " ".join(text.split()), module, func.name))
    unique = {}
    for item in found:  # nested functions are walked twice; keep the innermost name
        unique[(item[0], item[1], item[2])] = item
    return sorted(unique.values(), key=lambda e: (e[2], e[3], e[0]))


def errors_table():
    """One table per module: where, exception, message."""
    out, module = [], None
    for kind, text, mod, func in raised_errors():
        if mod != module:
            module = mod
            out += ["", f"### `{mod}`", "", "| raised in | exception | message |",
                    "| --- | --- | --- |"]
        out.append(f"| `{func}` | `{kind}` | {_cell(text)} |")
    return "\n".join(out)


def versions():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    rows = ["| package | versions |", "| --- | --- |", f"| Python | `{meta['requires-python']}` |"]
    for dep in meta["dependencies"]:
        name, bounds = re.match(r"([A-Za-z0-9_.-]+)\s*(.*)", dep).groups()
        rows.append(f"| `{name}` | `{bounds or 'any'}` |")
    return "\n".join(rows)


GENERATORS = {"methods": methods_table, "cli-help": cli_help, "errors": errors_table,
              "versions": versions}


if __name__ == "__main__":  # print every generated block: python docs/hooks.py
    for name, make in GENERATORS.items():
        with contextlib.redirect_stdout(io.StringIO()):
            text = make()
        print(f"<!-- {name} -->\n{text}\n")
