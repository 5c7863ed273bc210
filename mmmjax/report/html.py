"""The pieces of a report page: escaped text, numbers for people, tables, embedded figures, the
page itself.

Everything that reaches the page goes through :func:`escape` (``html.escape``), figures are
embedded as base64 PNG (:func:`image`), the CSS is inline (:data:`CSS`) and there is no script,
so a page opens offline and can be mailed as is. Used by :mod:`mmmjax.report.sections` and
:mod:`mmmjax.report.geo`; nothing here knows about fits.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mmmjax import plots

__all__ = [
    "CSS",
    "DPI",
    "escape",
    "fmt",
    "html_page",
    "image",
    "interval",
    "num",
    "num_range",
    "para",
    "pct",
    "section",
    "table",
]

#: Resolution of the embedded figures.
DPI = 80
#: The page's whole style sheet (inline: no external URL).
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;
  color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px;background:#fff}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #1f77b4;padding-bottom:4px;
  margin-top:2em}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #d0d0d0;padding:4px 9px;text-align:right;vertical-align:top}
th{background:#eef3f8}td.l,th.l{text-align:left}
img{max-width:100%;height:auto;display:block;margin:.6em 0 1.4em}
.note{color:#555;font-size:.92em}.warn{background:#fff4e5;border-left:4px solid #f0a020;
  padding:6px 12px;margin:.5em 0}.ok{background:#eaf7ea;border-left:4px solid #3a3;
  padding:6px 12px;margin:.5em 0}.key{font-size:1.05em;background:#eef3f8;padding:8px 12px}
nav a{margin-right:1em}
#summary h2{margin-top:.6em}#summary table{font-size:.85em;margin:.4em 0}
#summary p{margin:.4em 0}.verdict{font-size:.95em}
"""


def escape(x: Any) -> str:
    """``str(x)`` HTML-escaped, quotes included."""
    return html.escape(str(x), quote=True)


def para(text: str, cls: str | None = None) -> str:
    """``<p>`` of the escaped ``text``, with CSS class ``cls`` (``note``, ``warn``, ``ok``,
    ``key``) if given."""
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{escape(text)}</p>"


def fmt(x: Any, digits: int = 3) -> str:
    """A table cell's value as text: ``yes``/``no`` for booleans, thousands separators for
    integers, ``digits`` significant digits for floats (scientific below 1e-3, whole numbers
    from 1,000), "–" for NaN, "∞" for infinity, a date for a timestamp, else ``str(x)``."""
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:,.0f}" if abs(v) >= 1e5 else f"{v:.2e}"
        return f"{v:,.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(x, pd.Timestamp):
        return str(x.date())
    return str(x)


def table(rows: Iterable[Sequence[Any]], header: Sequence[str], left: int = 1) -> str:
    """An HTML table of ``rows`` (cells through :func:`fmt`, escaped); the first ``left``
    columns are left-aligned (labels)."""

    def cells(values, tag):
        return "".join(
            f"<{tag}{' class=l' if i < left else ''}>{escape(fmt(v))}</{tag}>"
            for i, v in enumerate(values)
        )

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    return f"<table><thead><tr>{cells(header, 'th')}</tr></thead><tbody>{body}</tbody></table>"


def image(fig, alt: str) -> str:
    """``fig`` as an embedded PNG, every text drawn as written (no mathtext: a ``$`` in a
    channel name is a dollar sign, whoever drew the figure)."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"text.parse_math": False}):
        plots.literal_text(fig).savefig(buf, format="png", dpi=DPI)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def interval(mean: float, low: float, high: float) -> str:
    """``mean [low, high]``, each through :func:`fmt` (a table cell)."""
    return f"{fmt(mean)} [{fmt(low)}, {fmt(high)}]"


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal, "–" for None or NaN."""
    return "–" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def num(x: float, digits: int = 2) -> str:
    """A number for people: ``1.29``, ``12,345``, ``1.2M``; "–" for NaN."""
    v = float(x)
    if math.isnan(v):
        return "–"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:,.1f}M"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def num_range(mean: float, low: float, high: float, digits: int = 2) -> str:
    """``mean (low to high)``, each through :func:`num` (a sentence's interval)."""
    return f"{num(mean, digits)} ({num(low, digits)} to {num(high, digits)})"


def section(anchor: str, title: str, body: Sequence[str]) -> str:
    """``<section id=anchor>`` with heading ``title`` (escaped) and the HTML blocks ``body``."""
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{"".join(body)}</section>'


def html_page(
    title: str, summary: str, model: str, sections: Sequence[tuple[str, str, str]]
) -> str:
    """The whole page: the title, the summary (first screen), a note on the model, links to the
    sections and the sections, each ``(anchor, link text, HTML)``; inline CSS, no script."""
    nav = "".join(f'<a href="#{a}">{escape(n)}</a>' for a, n, _ in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"
        f"<h1>{escape(title)}</h1>{summary}{para(model, 'note')}<nav>{nav}</nav>"
        + "".join(s for _, _, s in sections)
        + "</main></body></html>\n"
    )
