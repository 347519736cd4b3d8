"""Griffe extension for the API reference: doctest lines become code blocks.

Our docstrings follow Keras: an `Example:` line, then `>>>` lines at the same indentation (what
`tests/test_docs.py` executes). Markdown would read `>>>` as nested quotes and `x[0]` as a link,
so each run of doctest lines (from a `>>>` line to the next blank line) is fenced as `pycon`.
"""

import griffe


def fence_doctests(text):
    out, inside = [], False
    for line in text.splitlines():
        starts = line.lstrip().startswith(">>>")
        if starts and not inside:
            out.append("```pycon")
            inside = True
        elif inside and not line.strip():
            out.append("```")
            inside = False
        out.append(line)
    if inside:
        out.append("```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
