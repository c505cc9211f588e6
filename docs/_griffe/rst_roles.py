"""A griffe extension for the API reference: xpnn's docstrings use a few reStructuredText
forms that Markdown does not know, rewritten here as the site reads them.

- ``:func:`name```, ``:class:`~a.b.Name``` and the other Sphinx roles become inline code
  (``name``, ``Name``);
- a paragraph ending in ``::`` (reST's "a literal block follows") ends in ``:``; the
  indented block after it is a code block in Markdown as well.

The docstrings themselves stay as they are (``help()`` and editors show them as written).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|data|mod|exc|obj|const):`~?([^`]+)`")


def _name(match: re.Match[str]) -> str:
    target = match.group(1)
    shown = target.rsplit(".", 1)[-1] if match.group(0).count("`~") else target
    return f"`{shown}`"


def rewrite(text: str) -> str:
    """``text`` with the reST roles and literal-block markers rewritten for Markdown."""
    text = _ROLE.sub(_name, text)
    lines = []
    for line in text.splitlines():
        stripped = line.rstrip()
        if stripped.strip() == "::":
            continue
        if stripped.endswith("::") and not stripped.endswith(":::"):
            line = stripped[:-1]
        lines.append(line)
    return "\n".join(lines)


class RstRoles(griffe.Extension):
    """Rewrite every docstring with :func:`rewrite` as griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
