"""The one rendering layer: tables for people (rich), Markdown tables and HTML (markdown-it-py).

Every table the project prints or writes goes through `Column` + `render_table` (terminal)
or `markdown_table` (reports), so numbers are right-aligned with one precision per column
and every column has a name. Values stay numbers until here: callers pass floats and ints,
and the column's `format` decides how they read.

Why rich: it aligns and sizes columns, and the same library draws the progress display;
markdown-it-py (which rich already depends on) turns report Markdown into HTML.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Formatter = str | Callable[[Any], str] | None


@dataclass(frozen=True)
class Column:
    """A named column. `format` is a format spec for numbers (".2f", ".1%", ",d") or a
    callable; `align` defaults to right for numbers and left for text."""

    title: str
    format: Formatter = None
    align: Literal["left", "right"] | None = None

    def cell(self, value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        if callable(self.format):
            return str(self.format(value))
        if self.format and _is_number(value):
            return format(value, self.format)
        return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _columns(columns: Sequence[Column | str]) -> list[Column]:
    return [c if isinstance(c, Column) else Column(c) for c in columns]


def _alignments(columns: list[Column], rows: Sequence[Sequence[Any]]) -> list[str]:
    aligns: list[str] = []
    for i, column in enumerate(columns):
        if column.align is not None:
            aligns.append(column.align)
            continue
        values = [row[i] for row in rows if row[i] is not None]
        aligns.append("right" if values and all(_is_number(v) for v in values) else "left")
    return aligns


def render_table(columns: Sequence[Column | str], rows: Sequence[Sequence[Any]], *, title: str | None = None,
                 width: int = 240) -> str:
    """A plain-text table (no colour, no box characters beyond a header rule)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cols = _columns(columns)
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column, align in zip(cols, _alignments(cols, rows), strict=True):
        table.add_column(Text(column.title), justify=align, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        # Text, not str: a cell such as "[onnxruntime]" is data, never rich markup
        table.add_row(*(Text(column.cell(value)) for column, value in zip(cols, row, strict=True)))
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False, soft_wrap=True).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")


def markdown_table(columns: Sequence[Column | str], rows: Sequence[Sequence[Any]]) -> str:
    """The same table as GitHub Markdown, with the same cell formatting and alignment."""
    cols = _columns(columns)
    aligns = _alignments(cols, rows)
    head = "| " + " | ".join(c.title for c in cols) + " |"
    rule = "|" + "|".join("---:" if a == "right" else "---" for a in aligns) + "|"
    body = ["| " + " | ".join(c.cell(v).replace("|", "\\|") for c, v in zip(cols, row, strict=True)) + " |"
            for row in rows]
    return "\n".join([head, rule, *body])


def markdown_to_html(markdown: str, *, title: str) -> str:
    """A standalone HTML page from Markdown (tables enabled), rendered by markdown-it-py."""
    import html

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    style = ("body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}"
             "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25rem .5rem}"
             "td{font-variant-numeric:tabular-nums}code{background:#f4f4f4}img{max-width:100%}")
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head>\n<body>\n{body}</body></html>\n")


def precision_for(values: Sequence[Any], *, significant: int = 3, most: int = 3, grouping: bool = False) -> str:
    """One format spec for a whole column of numbers: enough decimals that the smallest
    non-zero value keeps `significant` digits (at most `most` decimals), the same for every
    row: 45.97, 361.9 and 1004.0 read `46.0`, `361.9`, `1004.0` (three digits where the
    column is smallest), not the mixed `45.97`, `361.9`, `1004.0`."""
    magnitudes = [abs(float(v)) for v in values if _is_number(v) and math.isfinite(float(v)) and v != 0]
    decimals = 0
    if magnitudes:
        smallest = min(magnitudes)
        decimals = max(0, min(most, significant - 1 - math.floor(math.log10(smallest))))
    return f"{',' if grouping else ''}.{decimals}f"


# Numbers inside sentences, each kind in its own precision: an error keeps its significant
# figures (2.9e-06, never 0.000), a share reads as a percentage (100%, 99.6%), a count as an
# integer with grouping (1,024), a rate with as many digits as it has meaning (425, 37.5).

def significant(value: float, digits: int = 2) -> str:
    """`value` to `digits` significant figures: 2.86e-06 -> "2.9e-06", 0.0312 -> "0.031"."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{digits}g}"


def percent(fraction: float, decimals: int = 1) -> str:
    """A fraction as a percentage: 1.0 -> "100%", 0.996 -> "99.6%", 0.9996 -> "99.96%" (more
    decimals where fewer would round to 100% or 0%, which only exact values may read)."""
    if not math.isfinite(fraction):
        return str(fraction)
    value = fraction * 100
    if value in (0, 100):
        return f"{value:.0f}%"
    text = f"{value:.{decimals}f}"
    for more in range(decimals + 1, decimals + 6):
        if float(text) not in (0.0, 100.0):
            break
        text = f"{value:.{more}f}"
    return f"{text}%"


def rate(value: float) -> str:
    """A throughput or speed: whole numbers from 100 up (2,496), three significant figures below (37.5)."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def words(items: Sequence[Any], conjunction: str = "and") -> str:
    """"a", "a and b", "a, b and c"."""
    texts = [str(i) for i in items]
    if len(texts) <= 1:
        return "".join(texts)
    return f"{', '.join(texts[:-1])} {conjunction} {texts[-1]}"
