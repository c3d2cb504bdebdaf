"""Server-rendered SVG charts (matplotlib), for pages and for the PDF reports alike.

Each function returns a Chart: the SVG as safe markup, its title, and the same numbers as a
table (templates/charts/chart.html shows the picture to sighted readers and the table to screen
readers). The SVG is built to be inlined several to a page and printed by WeasyPrint:

- text is drawn as paths from the Noto Sans CJK font when it is installed (fonts-noto-cjk), so
  Chinese labels look the same in every browser and in a PDF without a font on the reader's side
  (DejaVu Sans, matplotlib's own, otherwise: Latin text stays right, CJK shows as boxes);
- no fixed size: a viewBox and width="100%" fit a phone and a laptop;
- no <style> and no style attributes (a strict CSP drops them): presentation attributes;
- deterministic: a fixed hash salt, no date metadata, and every id prefixed by a digest of the
  chart's content, so two charts on one page never share an id and equal input gives equal bytes;
- a <title> and <desc>, no script, no external reference.

matplotlib's font cache and rcParams are process-wide, so figures are drawn under one lock.
"""

from __future__ import annotations

import hashlib
import html
import io
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

from django.utils.safestring import SafeString, mark_safe
from matplotlib import font_manager
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

CJK_FAMILY = "Noto Sans CJK SC"
LATIN_FAMILY = "DejaVu Sans"
# Colour-blind-safe (Okabe and Ito), in the order series take them.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
SIZE = (6.4, 3.6)  # inches; the viewBox keeps the proportions at any width
FONT_SIZE = 9

_lock = threading.Lock()
_font_families: list[str] | None = None


@dataclass(frozen=True)
class ChartTable:
    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Chart:
    svg: SafeString
    title: str
    table: ChartTable
    description: str = ""


def font_families() -> list[str]:
    """The fonts text is drawn with: Noto Sans CJK SC first when installed (it covers Latin
    too), DejaVu Sans as the fallback for anything it lacks."""
    global _font_families
    if _font_families is None:
        found = _cjk_font_known() or _cjk_font_added()
        _font_families = ([CJK_FAMILY] if found else []) + [LATIN_FAMILY]
    return list(_font_families)


def _cjk_font_known() -> bool:
    return any(f.name == CJK_FAMILY for f in font_manager.fontManager.ttflist)


def _cjk_font_added() -> bool:
    """matplotlib keeps its list of fonts in a cache made the first time it ran; fonts
    installed after that (fonts-noto-cjk, put in by `make test-deps` after `make install` had
    already imported matplotlib) are not in it, and Chinese would be drawn as empty boxes.
    Look for the font's files on the system and add them."""
    for path in font_manager.findSystemFonts():
        if "NotoSansCJK" in path.replace("-", ""):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return _cjk_font_known()


def number_text(value: float | None) -> str:
    """A number the way the table prints it: whole numbers without decimals."""
    if value is None or math.isnan(value):
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _digest(*parts: Any) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:10]


_ID = re.compile(r'\bid="([^"]+)"')


_STYLE = re.compile(r'\sstyle="([^"]*)"')
_PROPERTY = re.compile(r"^[a-z-]+$")


def _presentation(match: re.Match[str]) -> str:
    """style="fill: #fff; stroke-width: 0.8" as fill="#fff" stroke-width="0.8": a strict CSP
    (style-src 'self') ignores style attributes, but not SVG presentation attributes."""
    attributes = []
    for declaration in match.group(1).split(";"):
        name, _colon, value = declaration.partition(":")
        name, value = name.strip(), value.strip()
        if name and _PROPERTY.match(name) and value:
            attributes.append(f' {name}="{html.escape(value)}"')
    return "".join(attributes)


def _finish(raw: str, *, title: str, description: str, prefix: str) -> SafeString:
    """matplotlib's SVG made fit to inline under a strict CSP: no XML prolog, no <style> or
    style attributes, ids prefixed, sized by its viewBox, with a title and description; refuses
    anything scripted."""
    svg = raw[raw.index("<svg") :]
    for old in set(_ID.findall(svg)):
        new = f"{prefix}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"')
        svg = svg.replace(f'href="#{old}"', f'href="#{new}"')
        svg = svg.replace(f"url(#{old})", f"url(#{new})")
    head_end = svg.index(">") + 1
    head = svg[:head_end]
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    # The <style> matplotlib writes only sets these two, inherited by every shape.
    head = head.replace(
        "<svg ",
        f'<svg class="chart-svg" role="img" aria-labelledby="{prefix}-title" width="100%"'
        ' preserveAspectRatio="xMidYMid meet" stroke-linejoin="round" stroke-linecap="butt" ',
        1,
    )
    # matplotlib writes its own <metadata> (creator only, the date is switched off); dropped.
    body = re.sub(r"<metadata>.*?</metadata>", "", svg[head_end:], flags=re.S)
    body = re.sub(r"<style[^>]*>.*?</style>", "", body, flags=re.S)
    body = _STYLE.sub(_presentation, body)
    texts = (
        f'<title id="{prefix}-title">{html.escape(title)}</title>'
        f"<desc>{html.escape(description or title)}</desc>"
    )
    svg = head + texts + body
    if re.search(r"<script|\bon[a-z]+=|javascript:", svg, flags=re.I):
        raise ValueError("chart SVG must not hold scripts")
    return mark_safe(svg)  # noqa: S308 - built here from escaped text and matplotlib's markup


def _render(
    draw: Callable[[Figure], None], *, title: str, description: str, key: tuple[Any, ...]
) -> SafeString:
    with (
        _lock,
        matplotlib.rc_context(
            {
                "svg.fonttype": "path",
                "svg.hashsalt": "crm-charts",
                "font.family": font_families(),
                "font.size": FONT_SIZE,
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.titlesize": FONT_SIZE + 2,
                "axes.titleweight": "bold",
                "legend.frameon": False,
            }
        ),
    ):
        figure = Figure(figsize=SIZE, layout="constrained")
        FigureCanvasSVG(figure)
        draw(figure)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    return _finish(out.getvalue(), title=title, description=description, prefix=f"c{_digest(*key)}")


def _value_ticks(axis: Any) -> None:
    """Value ticks as the table prints numbers (2,000,000), never matplotlib's "1e6" offset."""
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: number_text(value)))


def _legend(axes: Any, count: int) -> None:
    if count > 1:
        axes.legend(loc="upper left", bbox_to_anchor=(0, -0.12), ncols=min(count, 4), fontsize=8)


def _empty(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="#666")
    axes.set_xticks([])
    axes.set_yticks([])


def _series_table(header: str, labels: Sequence[str], series: dict[str, list[float]]) -> ChartTable:
    names = list(series)
    rows = [
        [str(label), *(number_text(series[name][i]) for name in names)]
        for i, label in enumerate(labels)
    ]
    return ChartTable(columns=[header, *names], rows=rows)


def _checked(
    labels: Sequence[Any], series: Mapping[Any, Sequence[float | None]], *, gaps: bool = False
) -> tuple[list[str], dict[str, list[float]]]:
    """Labels and series as plain text and floats. A missing value (None) is 0 in bars; a line
    (gaps=True) keeps it as NaN, drawn as a break and printed as a dash, not as a zero."""
    texts = [str(label) for label in labels]
    missing = math.nan if gaps else 0.0
    plain = {
        str(name): [missing if v is None else float(v) for v in values]
        for name, values in series.items()
    }
    for name, values in plain.items():
        if len(values) != len(texts):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(texts)} labels")
    return texts, plain


def bar_chart(
    *,
    title: Any,
    categories: Sequence[Any],
    series: Mapping[Any, Sequence[float | None]],
    stacked: bool = False,
    horizontal: bool = False,
    category_label: Any = "",
    value_label: Any = "",
    description: Any = "",
    empty_text: Any = "No data",
) -> Chart:
    """Bars per category, one colour per series (side by side, or stacked)."""
    title, description = str(title), str(description)
    labels, plain = _checked(categories, series)
    names = list(plain)

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        axes.set_title(title, loc="left")
        if not labels or not names:
            _empty(axes, str(empty_text))
            return
        positions: list[float] = [float(p) for p in range(len(labels))]
        width = 0.8 if stacked or len(names) == 1 else 0.8 / len(names)
        base = [0.0] * len(labels)
        for i, name in enumerate(names):
            values = plain[name]
            colour = PALETTE[i % len(PALETTE)]
            if stacked:
                where, bottom = positions, base
            else:
                where = [p - 0.4 + width * (i + 0.5) for p in positions]
                bottom = [0.0] * len(labels)
            if horizontal:
                axes.barh(where, values, height=width, left=bottom, label=name, color=colour)
            else:
                axes.bar(where, values, width=width, bottom=bottom, label=name, color=colour)
            if stacked:
                base = [b + v for b, v in zip(base, values, strict=True)]
        _value_ticks(axes.xaxis if horizontal else axes.yaxis)
        if horizontal:
            axes.set_yticks(positions, labels)
            axes.invert_yaxis()
            axes.set_xlabel(str(value_label))
            axes.grid(axis="x", alpha=0.3)
        else:
            axes.set_xticks(
                positions,
                labels,
                rotation=30 if len(labels) > 6 else 0,
                ha="right" if len(labels) > 6 else "center",
            )
            axes.set_ylabel(str(value_label))
            axes.set_xlabel(str(category_label))
            axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        _legend(axes, len(names))

    svg = _render(
        draw,
        title=title,
        description=description,
        key=("bar", title, labels, plain, stacked, horizontal),
    )
    table = _series_table(str(category_label) or title, labels, plain)
    return Chart(svg=svg, title=title, table=table, description=description)


def line_chart(
    *,
    title: Any,
    x_labels: Sequence[Any],
    series: dict[Any, list[float | None]],
    x_label: Any = "",
    y_label: Any = "",
    y_limits: tuple[float, float] | None = None,
    description: Any = "",
    empty_text: Any = "No data",
) -> Chart:
    """One line per series over ordered labels (weeks, months)."""
    title, description = str(title), str(description)
    labels, plain = _checked(x_labels, series, gaps=True)
    names = list(plain)

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        axes.set_title(title, loc="left")
        if not labels or not names:
            _empty(axes, str(empty_text))
            return
        positions = list(range(len(labels)))
        for i, name in enumerate(names):
            axes.plot(
                positions,
                plain[name],
                marker="o",
                markersize=3,
                linewidth=1.6,
                label=name,
                color=PALETTE[i % len(PALETTE)],
            )
        step = max(1, len(labels) // 8)  # at most ~8 tick labels: readable on a phone
        axes.set_xticks(positions[::step], labels[::step])
        if y_limits is not None:
            axes.set_ylim(*y_limits)
        _value_ticks(axes.yaxis)
        axes.set_xlabel(str(x_label))
        axes.set_ylabel(str(y_label))
        axes.grid(axis="y", alpha=0.3)
        _legend(axes, len(names))

    svg = _render(
        draw, title=title, description=description, key=("line", title, labels, plain, y_limits)
    )
    table = _series_table(str(x_label) or title, labels, plain)
    return Chart(svg=svg, title=title, table=table, description=description)


def heatmap(
    *,
    title: Any,
    x_labels: Sequence[Any],
    y_labels: Sequence[Any],
    values: Sequence[Sequence[float | None]],
    x_label: Any = "",
    y_label: Any = "",
    description: Any = "",
) -> Chart:
    """A grid of cells (rows: y_labels, columns: x_labels) shaded by value, each printed."""
    title, description = str(title), str(description)
    xs = [str(x) for x in x_labels]
    ys = [str(y) for y in y_labels]
    grid = [[None if v is None else float(v) for v in row] for row in values]
    if len(grid) != len(ys) or any(len(row) != len(xs) for row in grid):
        raise ValueError("heat map values must be one row per y label, one value per x label")

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        axes.set_title(title, loc="left")
        if not xs or not ys:
            _empty(axes, "")
            return
        import numpy as np

        data = np.ma.masked_invalid(
            np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)
        )
        image = axes.imshow(data, cmap="Blues", aspect="auto")
        top = float(data.max()) if data.count() else 0.0
        for r, row in enumerate(grid):
            for c, value in enumerate(row):
                if value is None:
                    continue
                dark = top > 0 and value > top * 0.6
                axes.text(
                    c,
                    r,
                    number_text(value),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if dark else "#222",
                )
        axes.set_xticks(range(len(xs)), xs)
        axes.set_yticks(range(len(ys)), ys)
        axes.set_xlabel(str(x_label))
        axes.set_ylabel(str(y_label))
        for side in ("left", "bottom"):
            axes.spines[side].set_visible(False)
        figure.colorbar(image, ax=axes, shrink=0.8)

    svg = _render(draw, title=title, description=description, key=("heat", title, xs, ys, grid))
    corner = f"{y_label} \\ {x_label}" if y_label and x_label else str(y_label or title)
    rows = [[y, *(number_text(v) for v in row)] for y, row in zip(ys, grid, strict=True)]
    return Chart(
        svg=svg, title=title, table=ChartTable([corner, *xs], rows), description=description
    )
