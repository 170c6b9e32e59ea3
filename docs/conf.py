"""Sphinx configuration for gradscope's documentation.

Build (warnings are errors)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Everything renders offline: maths is turned into PNG images by LaTeX and dvipng
at build time (``sphinx.ext.imgmath``), the theme (furo) ships its own CSS and
JavaScript, and no page loads anything from the network (no MathJax CDN, no
intersphinx inventories, no web fonts).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import gradscope

# -- Project -------------------------------------------------------------------
project = "gradscope"
author = "gradscope developers"
copyright = "gradscope developers"
version = release = gradscope.__version__

# -- Extensions ----------------------------------------------------------------
extensions = [
    "myst_parser",  # pages are Markdown (MyST)
    "sphinx.ext.autodoc",  # the API reference, from the docstrings
    "numpydoc",  # ... which are numpydoc
    "sphinx.ext.imgmath",  # maths as PNG images made at build time: no CDN
    "sphinx_click",  # the CLI reference, from the click commands
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
nitpicky = False
# Keep "--option" as written (the CLI reference): curly quotes and ellipses only, no dashes.
smartquotes_action = "qe"

# -- MyST ----------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- autodoc and numpydoc ------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc Parameters sections say it in words
autodoc_preserve_defaults = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- Maths, offline ------------------------------------------------------------
imgmath_image_format = "png"
imgmath_latex = "latex"
imgmath_dvipng = "dvipng"
imgmath_font_size = 12  # the 12pt article class's own size: no font scaling needed
# Sphinx's maths template loads anyfontsize.sty, which Debian ships only in the large
# texlive-latex-extra; _tex/ holds a no-op stand-in, found first through TEXINPUTS
# (the trailing separator keeps TeX's default search path after it).
os.environ["TEXINPUTS"] = (
    str(Path(__file__).parent / "_tex") + os.pathsep + os.environ.get("TEXINPUTS", "")
)
imgmath_dvipng_args = ["-gamma", "1.5", "-D", "115", "-bg", "Transparent"]
imgmath_embed = False  # PNG files beside the pages
# The docstrings write a few symbols directly in Unicode inside :math:; LaTeX's
# utf8 input encoding does not know them, so map each to its TeX command.
_UNICODE_MATH = {
    "θ": r"\theta",
    "γ": r"\gamma",
    "φ": r"\varphi",
    "ρ": r"\rho",
    "σ": r"\sigma",
    "λ": r"\lambda",
    "δ": r"\delta",
    "ε": r"\varepsilon",
    "ℓ": r"\ell",
    "≤": r"\le",
    "≥": r"\ge",
    "−": "-",
    "…": r"\dots",
    "⋯": r"\cdots",
    "‖": r"\|",
    "∂": r"\partial",
    "ᵀ": r"^{\top}",
    "₂": r"_2",
}
imgmath_latex_preamble = "\n".join(
    rf"\DeclareUnicodeCharacter{{{ord(ch):04X}}}{{\ensuremath{{{tex}}}}}"
    for ch, tex in _UNICODE_MATH.items()
)

# -- HTML ----------------------------------------------------------------------
html_theme = "furo"
html_title = f"gradscope {release}"
html_static_path = ["_static"]
html_css_files = ["gradscope.css"]  # dark-mode maths (see the file)
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "navigation_with_keys": True,
}


# -- Docstrings: two characters that reST reads as markup ------------------------
# The docstrings are written for people first and use two characters that reST
# takes as markup: ``|x|`` (absolute values, "the largest |eigenvalue|") looks like a
# substitution reference, and a batch shape ``(*batch, n, n)`` in a parameter's type
# opens an emphasis that never closes. gradscope has no substitutions and no
# emphasis starting with "(*", so both are escaped in the processed docstrings —
# outside inline literals, roles (:math: included), maths and literal blocks and
# doctests, which are left exactly as written.

_INLINE_MARKUP = re.compile(r"``.+?``|:[\w:.+-]+:`[^`]*`|`[^`]*`_{0,2}", re.DOTALL)


def _escape_prose(text: str) -> str:
    text = re.sub(r"(?<!\\)\|", r"\\|", text)
    return re.sub(r"\(\*(?=\w)", r"(\\*", text)


def _escape_chunk(text: str) -> str:
    out, last = [], 0
    for match in _INLINE_MARKUP.finditer(text):
        out.append(_escape_prose(text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_escape_prose(text[last:]))
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _protected(lines: list[str]) -> list[bool]:
    """Which lines belong to directives, literal blocks or doctests (left untouched)."""
    flags = [False] * len(lines)
    block_indent: int | None = None  # inside a directive body or a literal block
    in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if block_indent is not None:
            if stripped and _indent(line) <= block_indent:
                block_indent = None
            else:
                flags[i] = True
                continue
        if in_doctest:
            if stripped:
                flags[i] = True
                continue
            in_doctest = False
        if stripped.startswith(">>>"):
            flags[i] = in_doctest = True
        elif stripped.startswith(".. ") or stripped.endswith("::"):
            flags[i] = stripped.startswith(".. ")
            block_indent = _indent(line)
    return flags


def _escape_markup(app, what, name, obj, options, lines):
    flags = _protected(lines)
    i = 0
    while i < len(lines):
        if flags[i]:
            i += 1
            continue
        j = i
        while j < len(lines) and not flags[j]:
            j += 1
        chunk = _escape_chunk("\n".join(lines[i:j])).split("\n")
        lines[i:j] = chunk
        i = j


def setup(app):
    # After numpydoc (priority 500), on the reST it produced.
    app.connect("autodoc-process-docstring", _escape_markup, priority=600)
