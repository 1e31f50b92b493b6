"""A one-page HTML report of an allocation, for a leadership meeting.

:func:`write_report` writes a single self-contained HTML file: headline
figures, the children left unallocated (by priority and reason, case ids
only), caseload fairness, the trade-off between peak utilisation and
everything else (:func:`caseload.tradeoffs.peak_front`) and the marginal
value of capacity (:func:`caseload.tradeoffs.capacity_values`).

The page loads nothing from anywhere and runs no script: the charts are
inline SVG drawn here from the tables of :func:`caseload.breakdown.breakdown`,
so the report needs no plotting library. Every id is HTML-escaped and, like
the CSV exports, neutralised against spreadsheet formula injection
(:func:`caseload.csvio.safe_cell`), because report tables are often pasted
into spreadsheets. Only ids, codes and counts appear: no personal data.
"""

from __future__ import annotations

import html
import itertools
import math
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from caseload.breakdown import Breakdown, breakdown
from caseload.check import check
from caseload.csvio import safe_cell
from caseload.data import Instance
from caseload.result import _PRIORITY_WORDS, REASONS, Result

if TYPE_CHECKING:
    from caseload.tradeoffs import CapacityValue, FrontPoint

#: Red-amber-green by priority (5 = red), as risk is shown in children's services.
PRIORITY_COLOURS = {
    5: "#c0392b",
    4: "#e67e22",
    3: "#f1c40f",
    2: "#9acd32",
    1: "#27ae60",
}
REASON_WORDS = {
    "no_eligible_worker": "no eligible worker",
    "capacity": "capacity",
    "trade_off": "trade-off",
}
_REASON_HELP = {
    "no_eligible_worker": "no worker meets the case's skills, exclusions, travel or limits",
    "capacity": "every eligible worker is full (capacity, case or new-case limit)",
    "trade_off": "an eligible worker had room, but placing the case cost more elsewhere",
}
_SERIES = ("#2f5d8a", "#9bb7d4", "#e07b39")


def _e(text: Any) -> str:
    """Text for HTML element content and quoted attributes."""
    return html.escape(str(text), quote=True)


def _id(text: str) -> str:
    """An id for the page: formula-safe (the page may be pasted into a spreadsheet), escaped."""
    return _e(safe_cell(text))


def _num(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _signed(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "–"
    if round(x, digits) == 0:
        return f"{0:.{digits}f}"
    # A true minus sign: a hyphen is easy to miss in a table of changes.
    return ("+" if x > 0 else "−") + _num(abs(x), digits)


def _big(x: float) -> str:
    """An objective-sized number: decimals only where they are not noise."""
    return _num(x, 0 if abs(x) >= 1000 else 2)


def _short(x: float) -> str:
    """Axis tick text: 1.2M, 850k, 12."""
    a = abs(x)
    if a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if a >= 1e4:
        return f"{x / 1e3:.3g}k"
    return f"{x:,.4g}"


# -- inline SVG charts ---------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """Plot geometry in SVG user units; the SVG scales to its container."""

    width: float = 640
    height: float = 300
    left: float = 72
    right: float = 16
    top: float = 34
    bottom: float = 52

    @property
    def inner_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_h(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float, top: float) -> float:
        return self.top + self.inner_h * (1 - value / top if top else 1)


def _ticks(high: float, n: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``high``."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw - 1e-12)
    count = math.ceil(high / step - 1e-9)
    return [i * step for i in range(count + 1)]


def _svg_open(frame: _Frame, label: str) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {frame.width:g} {frame.height:g}" role="img" '
        f'aria-label="{_e(label)}"><title>{_e(label)}</title>'
    ]


def _legend(frame: _Frame, items: Sequence[tuple[str, str]]) -> list[str]:
    """Swatches along the top, wrapping onto a second row in a narrow chart."""
    out, x, y = [], frame.left, 8.0
    for name, colour in items:
        # About 8 units a character at 12px, for wide fonts such as DejaVu Sans.
        step = 32 + 8 * len(name)
        if x > frame.left and x + step > frame.width - frame.right:
            x, y = frame.left, y + 17
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16:.1f}" y="{y + 10:.1f}" class="lg">{_e(name)}</text>'
        )
        x += step
    return out


def _y_axis(frame: _Frame, ticks: Sequence[float], label: str) -> list[str]:
    top = ticks[-1]
    out = []
    for t in ticks:
        y = frame.y(t, top)
        out.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" class="grid"/>'
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" class="tick" '
            f'text-anchor="end">{_e(_short(t))}</text>'
        )
    mid = frame.top + frame.inner_h / 2
    out.append(
        f'<text transform="translate(14 {mid:.1f}) rotate(-90)" class="axis" '
        f'text-anchor="middle">{_e(label)}</text>'
    )
    return out


def _bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    *,
    label: str,
    y_label: str,
    x_label: str = "",
    stacked: bool = False,
    frame: _Frame | None = None,
) -> str:
    """Grouped (or stacked) vertical bars, one group per category."""
    frame = frame or _Frame()
    n = max(len(categories), 1)
    if stacked:
        heights = [sum(s[1][i] for s in series) for i in range(len(categories))]
    else:
        heights = [v for s in series for v in s[1]]
    ticks = _ticks(max(heights, default=0.0))
    top = ticks[-1]
    out = _svg_open(frame, label)
    out += _y_axis(frame, ticks, y_label)
    if len(series) > 1:
        out += _legend(frame, [(name, colour) for name, _, colour in series])
    slot = frame.inner_w / n
    width = slot * 0.8 / (1 if stacked else len(series))
    # Long category labels would overlap: show every k-th one.
    every = max(1, math.ceil(max((len(c) for c in categories), default=1) * 6.2 / slot))
    for i, category in enumerate(categories):
        x0 = frame.left + slot * i + slot * 0.1
        base = 0.0
        for k, (name, values, colour) in enumerate(series):
            v = float(values[i])
            if stacked:
                y1, y2 = frame.y(base + v, top), frame.y(base, top)
                x = x0
                base += v
            else:
                y1, y2 = frame.y(v, top), frame.y(0, top)
                x = x0 + k * width
            if v > 0:
                out.append(
                    f'<rect x="{x:.1f}" y="{y1:.1f}" width="{max(width - 1, 1):.1f}" '
                    f'height="{y2 - y1:.1f}" fill="{colour}"><title>{_e(category)}: '
                    f"{_e(name)} {_e(f'{v:,.4g}')}</title></rect>"
                )
        if i % every == 0:
            out.append(
                f'<text x="{frame.left + slot * (i + 0.5):.1f}" '
                f'y="{frame.height - frame.bottom + 16}" class="tick" '
                f'text-anchor="middle">{_e(category)}</text>'
            )
    out.append(
        f'<line x1="{frame.left}" x2="{frame.width - frame.right}" '
        f'y1="{frame.y(0, top):.1f}" y2="{frame.y(0, top):.1f}" class="base"/>'
    )
    if x_label:
        out.append(
            f'<text x="{frame.left + frame.inner_w / 2:.1f}" y="{frame.height - 8}" '
            f'class="axis" text-anchor="middle">{_e(x_label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


@dataclass(frozen=True)
class _Dot:
    x: float
    y: float
    label: str
    kind: str  # "front", "dominated" or "current"


def _scatter_chart(dots: Sequence[_Dot], *, label: str, x_label: str, y_label: str) -> str:
    """The trade-off curve: non-dominated points joined, others hollow, today's a diamond."""
    frame = _Frame(height=300, left=72, right=24)
    xs = [d.x for d in dots]
    ys = [d.y for d in dots]
    # Tolerance: a cap of 100% is met at 100.00000000000003%.
    first = math.floor(min(xs) / 5 + 1e-9) * 5
    last = math.ceil(max(xs) / 5 - 1e-9) * 5
    x_lo, x_hi = first - 2.5, max(last, first + 5) + 2.5
    # The statutory weight makes the rest jump by orders of magnitude; a log
    # scale keeps the smaller differences between looser caps visible.
    log = min(ys) > 0 and max(ys) / min(ys) > 20
    if log:
        steps = [
            m * 10.0**e
            for e in range(math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys))) + 1)
            for m in (1, 2, 5)
        ]
        # A tenth of the span as margin keeps points and labels off the axes.
        pad = 0.1 * max(math.log10(max(ys) / min(ys)), 0.5)
        lo, hi = min(ys) / 10**pad, max(ys) * 10**pad
        ticks = [t for t in steps if lo <= t <= hi]

        def fy(v: float) -> float:
            share = math.log10(v / lo) / math.log10(hi / lo)
            return frame.top + frame.inner_h * (1 - share)
    else:
        ticks = _ticks(max(ys))

        def fy(v: float) -> float:
            return frame.y(v, ticks[-1])

    def fx(v: float) -> float:
        return frame.left + frame.inner_w * (v - x_lo) / (x_hi - x_lo)

    out = _svg_open(frame, label)
    out += _legend(
        frame,
        [("best trade-offs", _SERIES[0]), ("dominated", "#999999"), ("this allocation", "#e07b39")],
    )
    for t in ticks:
        y = fy(t)
        out.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" '
            f'y2="{y:.1f}" class="grid"/><text x="{frame.left - 6}" y="{y + 4:.1f}" '
            f'class="tick" text-anchor="end">{_e(_short(t))}</text>'
        )
    for t in range(first, max(last, first + 5) + 1, 5 if last - first <= 40 else 10):
        out.append(
            f'<text x="{fx(t):.1f}" y="{frame.height - frame.bottom + 16}" class="tick" '
            f'text-anchor="middle">{t}%</text>'
        )
    mid = frame.top + frame.inner_h / 2
    out.append(
        f'<text transform="translate(14 {mid:.1f}) rotate(-90)" class="axis" '
        f'text-anchor="middle">{_e(y_label + (" (log scale)" if log else ""))}</text>'
        f'<text x="{frame.left + frame.inner_w / 2:.1f}" y="{frame.height - 8}" '
        f'class="axis" text-anchor="middle">{_e(x_label)}</text>'
    )
    front = sorted((d for d in dots if d.kind == "front"), key=lambda d: d.x)
    if len(front) > 1:
        path = " ".join(f"{fx(d.x):.1f},{fy(d.y):.1f}" for d in front)
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{_SERIES[0]}" stroke-width="2"/>'
        )
    for d in dots:
        x, y = fx(d.x), fy(d.y)
        if d.kind == "current":
            out.append(
                f'<path d="M{x:.1f},{y - 7:.1f} L{x + 7:.1f},{y:.1f} L{x:.1f},{y + 7:.1f} '
                f'L{x - 7:.1f},{y:.1f} Z" fill="#e07b39"/>'
            )
            # Today's allocation usually sits on top of the loosest cap: label it
            # on the other side, below, so the two labels do not collide.
            out.append(
                f'<text x="{x - 10:.1f}" y="{y + 16:.1f}" class="pt" '
                f'text-anchor="end">{_e(d.label)}</text>'
            )
            continue
        if d.kind == "front":
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{_SERIES[0]}"/>')
        else:
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="white" stroke="#999999" '
                'stroke-width="2"/>'
            )
        # Labels of points near the right edge go to their left, inside the plot.
        right = x > frame.left + 0.6 * frame.inner_w
        out.append(
            f'<text x="{x - 8 if right else x + 8:.1f}" y="{y - 9:.1f}" class="pt" '
            f'text-anchor="{"end" if right else "start"}">{_e(d.label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


# -- the page --------------------------------------------------------------------


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2730;
margin:0;background:#f4f6f8}
main{max-width:1180px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:26px;margin:0 0 2px}h2{font-size:20px;margin:0 0 10px;color:#1f3b57}
h3{font-size:15px;margin:14px 0 6px}
.meta{color:#5b6770;margin:0 0 18px}
section{background:#fff;border:1px solid #dde3e8;border-radius:8px;padding:18px 20px;
margin:0 0 18px;break-inside:avoid}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:10px}
.card{border:1px solid #dde3e8;border-radius:6px;padding:10px 12px;background:#fafbfc}
.card .label{font-size:12px;color:#5b6770;text-transform:uppercase;letter-spacing:.03em}
.card .value{font-size:22px;font-weight:650;font-variant-numeric:tabular-nums;
overflow-wrap:anywhere}
.card .sub{font-size:12px;color:#5b6770}
.card.alert{border-color:#c0392b;background:#fdf1ef}
.cols{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:22px;align-items:start}
.cols.split{grid-template-columns:minmax(0,3fr) minmax(0,2fr)}
@media (max-width:900px){.cols,.cols.split{grid-template-columns:1fr}}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid #e6eaee;text-align:right;white-space:nowrap}
th{background:#eef2f5;font-weight:600;white-space:normal;vertical-align:bottom}
th:first-child,td:first-child{text-align:left}
tr.total td{font-weight:650;border-top:2px solid #c9d2da}
.chart{width:100%;height:auto;display:block}
.chart .grid{stroke:#e3e8ec}.chart .base{stroke:#7b8791}
.chart text{font-family:inherit}.chart .tick{font-size:11px;fill:#4b5760}
.chart .axis{font-size:12px;fill:#33404a}.chart .lg{font-size:12px;fill:#33404a}
.chart .pt{font-size:11px;fill:#1d2730}
.note{color:#5b6770;font-size:13px;margin:8px 0 0}
.ids{font:12px/1.6 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:4px 0 8px;
word-break:break-all}
.ids b{color:#a12a1c}
details{margin:4px 0}summary{cursor:pointer;font-weight:600}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.bad{color:#a12a1c;font-weight:650}
"""


@dataclass(frozen=True)
class _Whatif:
    """What the trade-off sections found (or why they are absent)."""

    front: list[FrontPoint] | None
    capacity: list[CapacityValue] | None
    seconds: float


def _card(label: str, value: str, sub: str = "", *, key: str, alert: bool = False) -> str:
    cls = "card alert" if alert else "card"
    return (
        f'<div class="{cls}" id="fig-{key}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="sub">{_e(sub)}</div></div>'
    )


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], total: Sequence[str] = ()) -> str:
    """A table of pre-escaped cells."""
    out = [
        '<div class="scroll"><table><thead><tr>',
        *(f"<th>{_e(h)}</th>" for h in head),
        "</tr></thead><tbody>",
    ]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    if total:
        out.append('<tr class="total">' + "".join(f"<td>{c}</td>" for c in total) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _utilisations(result: Result) -> list[float]:
    return [100 * (r.utilisation or 0.0) for r in result.workers if r.capacity > 0]


def _headline(instance: Instance, result: Result, passed: bool, violations: int) -> str:
    o = result.objective
    n_cases = len(instance.cases)
    n_out = len(result.unallocated)
    utils = _utilisations(result)
    forced = sum(m.forced for m in result.moves)
    gap = result.gap
    if result.bound is None:
        bound, bound_sub = "none", "no lower bound was proved"
    else:
        bound, bound_sub = _big(result.bound), f"proved by {result.bound_source}"
    gap_text = "n/a" if gap is None else f"{100 * gap:,.{0 if gap >= 1 else 2}f}%"
    gap_sub = "best possible is at most this much better"
    if gap is not None and gap > 1:
        gap_sub = "the bound is weak here: the gap says little"
    cards = [
        _card("Cases", _num(n_cases), f"{len(instance.workers):,} workers", key="cases"),
        _card(
            "Allocated",
            _num(len(result.assignments)),
            f"{100 * len(result.assignments) / max(n_cases, 1):.1f}% of cases",
            key="allocated",
        ),
        _card(
            "Unallocated",
            _num(n_out),
            ", ".join(
                f"{REASON_WORDS[r]} {sum(u.reason == r for u in result.unallocated.values())}"
                for r in REASONS
            ),
            key="unallocated",
            alert=n_out > 0,
        ),
        _card(
            "Statutory unallocated",
            _num(o["statutory"]),
            "cases that must be allocated",
            key="statutory",
            alert=o["statutory"] > 0,
        ),
        _card(
            "Median utilisation",
            f"{statistics.median(utils):.0f}%" if utils else "n/a",
            f"lowest {min(utils):.0f}%" if utils else "",
            key="median-utilisation",
        ),
        _card(
            "Peak utilisation",
            f"{o['balance']:.1f}%",
            f"{sum(u >= 95 for u in utils)} workers at 95% or more",
            key="peak-utilisation",
        ),
        _card(
            "Children changing worker",
            _num(o["continuity"]),
            f"{forced} of {len(result.moves)} moves had to happen",
            key="continuity",
        ),
        _card(
            "Travel",
            _num(o["travel"]),
            "visit-minutes per month",
            key="travel",
        ),
        _card("Objective", _big(o["total"]), "weighted total, lower is better", key="objective"),
        _card("Proven bound", bound, bound_sub, key="bound"),
        _card("Gap", gap_text, gap_sub, key="gap"),
        _card(
            "Independent check",
            "passed" if passed else "FAILED",
            f"{result.status}, solved in {result.runtime_seconds:.1f} s"
            if passed
            else f"{violations} violation(s): see caseload check",
            key="check",
            alert=not passed,
        ),
    ]
    return (
        '<section id="headline"><h2>Headline</h2><div class="cards">'
        + "".join(cards)
        + ("</div></section>")
    )


def _unallocated_section(instance: Instance, result: Result) -> str:
    by_case = {c.id: c for c in instance.cases}
    out = ['<section id="unallocated"><h2>Children left unallocated</h2>']
    if not result.unallocated:
        out.append("<p>Every case is allocated.</p></section>")
        return "".join(out)
    count: Counter[tuple[int, str]] = Counter()
    statutory: Counter[int] = Counter()
    for u in result.unallocated.values():
        case = by_case[u.case]
        count[case.priority, u.reason] += 1
        statutory[case.priority] += instance.statutory(case)
    rows = []
    for p in (5, 4, 3, 2, 1):
        cells = [count[p, r] for r in REASONS]
        rows.append(
            [
                f'<span class="swatch" style="background:{PRIORITY_COLOURS[p]}"></span>'
                f"{p} {_e(_PRIORITY_WORDS[p])}",
                *(str(c) for c in cells),
                str(statutory[p]),
                f"<b>{sum(cells)}</b>",
            ]
        )
    total = [
        "Total",
        *(str(sum(count[p, r] for p in range(1, 6))) for r in REASONS),
        str(sum(statutory.values())),
        str(len(result.unallocated)),
    ]
    table = _table(
        ["Priority", *(REASON_WORDS[r] for r in REASONS), "of which statutory", "Total"],
        rows,
        total,
    )
    chart = _bar_chart(
        [REASON_WORDS[r] for r in REASONS],
        [
            (f"{p} {_PRIORITY_WORDS[p]}", [count[p, r] for r in REASONS], PRIORITY_COLOURS[p])
            for p in (5, 4, 3, 2, 1)
        ],
        label="Unallocated cases by reason, stacked by priority",
        y_label="cases",
        stacked=True,
        frame=_Frame(width=440, height=300, left=60, top=48),
    )
    reasons = "".join(
        f"<li><b>{_e(REASON_WORDS[r])}</b>: {_e(_REASON_HELP[r])}</li>" for r in REASONS
    )
    out.append(
        f'<div class="cols split"><div>{table}<ul class="note">{reasons}</ul></div>'
        f"<div>{chart}</div></div>"
    )
    out.append(
        "<h3>Case ids by priority</h3><p class='note'>Ids only. "
        "<b class='bad'>Bold</b> ids are statutory (must be allocated).</p>"
    )
    for p in (5, 4, 3, 2, 1):
        ids = [u for u in result.unallocated.values() if by_case[u.case].priority == p]
        if not ids:
            continue
        # High-risk lists are open; long low-risk lists stay folded on screen.
        opened = " open" if p >= 4 or len(ids) <= 40 else ""
        out.append(
            f"<details{opened}><summary>Priority {p} ({_e(_PRIORITY_WORDS[p])}): "
            f"{len(ids)} case{'s' if len(ids) != 1 else ''}</summary>"
        )
        for r in REASONS:
            these = [u.case for u in ids if u.reason == r]
            if not these:
                continue
            listed = ", ".join(
                f"<b>{_id(c)}</b>" if instance.statutory(by_case[c]) else _id(c) for c in these
            )
            out.append(f'<p class="ids">{_e(REASON_WORDS[r])} ({len(these)}): {listed}</p>')
        out.append("</details>")
    out.append("</section>")
    return "".join(out)


def _fairness_section(result: Result, tables: Breakdown) -> str:
    utils = _utilisations(result)
    low = min(utils, default=0.0)
    start = max(0, min(int(low // 5) * 5, 80))
    edges = list(range(start, 101, 5))
    counts = [0] * (len(edges) - 1)
    for u in utils:
        # The last bin is closed: a worker at exactly 100% belongs in 95-100.
        k = min(int((u - start) // 5), len(counts) - 1)
        counts[max(k, 0)] += 1
    hist = _bar_chart(
        [f"{a}–{b}" for a, b in itertools.pairwise(edges)],
        [("workers", counts, _SERIES[0])],
        label="Workers by utilisation",
        y_label="workers",
        x_label="utilisation (% of capacity in points)",
        frame=_Frame(height=260, top=16),
    )
    quartiles = statistics.quantiles(utils, n=4) if len(utils) > 1 else [low, low, low]
    stats = (
        f"{len(utils)} workers with capacity; median {statistics.median(utils):.0f}%, "
        f"middle half {quartiles[0]:.0f}–{quartiles[2]:.0f}%, lowest {low:.0f}%, "
        f"peak {max(utils):.1f}%."
        if utils
        else "No worker has capacity."
    )
    locs = [row for row in tables.localities if row["cases"] or row["workers"]]
    rows = []
    for row in locs:
        ratio = f"{100 * row['demand'] / row['capacity']:.0f}%" if row["capacity"] else "–"
        rows.append(
            [
                _id(row["locality"]),
                str(row["workers"]),
                _num(row["capacity"]),
                _num(row["demand"]),
                _num(row["allocated_points"]),
                ratio,
                str(row["unallocated"]),
                str(row["unallocated_statutory"]),
            ]
        )
    capacity = sum(r["capacity"] for r in locs)
    demand = sum(r["demand"] for r in locs)
    total = [
        "Total",
        str(sum(r["workers"] for r in locs)),
        _num(capacity),
        _num(demand),
        _num(sum(r["allocated_points"] for r in locs)),
        f"{100 * demand / capacity:.0f}%" if capacity else "–",
        str(sum(r["unallocated"] for r in locs)),
        str(sum(r["unallocated_statutory"] for r in locs)),
    ]
    table = _table(
        [
            "Locality",
            "Workers",
            "Capacity",
            "Demand",
            "Allocated",
            "Demand / capacity",
            "Unallocated",
            "of which statutory",
        ],
        rows,
        total,
    )
    bars = _bar_chart(
        [safe_cell(str(r["locality"])) for r in locs],
        [
            ("capacity", [r["capacity"] for r in locs], _SERIES[0]),
            ("demand", [r["demand"] for r in locs], _SERIES[2]),
            ("allocated", [r["allocated_points"] for r in locs], _SERIES[1]),
        ],
        label="Capacity, demand and allocated points by locality",
        y_label="workload points",
        frame=_Frame(height=260, top=34),
    )
    return (
        '<section id="fairness"><h2>Caseload fairness</h2>'
        f'<div class="cols"><div><h3>Utilisation of each worker</h3>{hist}'
        f'<p class="note">{_e(stats)}</p></div>'
        f"<div><h3>Demand and capacity by locality</h3>{bars}</div></div>"
        f"<h3>By locality (workload points; workers by base, cases by where the child lives)</h3>"
        f"{table}</section>"
    )


def _tradeoff_section(result: Result, whatif: _Whatif, caps: Sequence[float]) -> str:
    from caseload.tradeoffs import non_dominated

    head = '<section id="tradeoffs"><h2>Trade-off: fairness against everything else</h2>'
    if whatif.front is None:
        return (
            head + "<p>Not computed for this report (trade-offs were switched off).</p></section>"
        )
    points = whatif.front
    if not points:
        return head + (
            f"<p>No allocation fits any of the caps {', '.join(f'{c:g}%' for c in caps)}: "
            "pinned work alone breaks them.</p></section>"
        )
    front = set(map(id, non_dominated(points, "balance")))
    dots = [
        _Dot(
            p.objective["balance"],
            p.rest("balance"),
            f"cap {p.limit:g}%: {len(p.result.unallocated):,} unallocated",
            "front" if id(p) in front else "dominated",
        )
        for p in points
    ]
    rest_now = result.objective["total"] - result.weights["balance"] * result.objective["balance"]
    dots.append(
        _Dot(
            result.objective["balance"],
            rest_now,
            f"this allocation: {len(result.unallocated):,}",
            "current",
        )
    )
    chart = _scatter_chart(
        dots,
        label="Peak utilisation against the rest of the objective",
        x_label="peak utilisation (%)",
        y_label="rest of the objective",
    )
    o = result.objective
    rows = [
        [
            "<i>this allocation</i>",
            f"{o['balance']:.1f}%",
            _num(len(result.unallocated)),
            _num(o["statutory"]),
            _num(o["continuity"]),
            _num(o["travel"]),
            _num(rest_now),
            "",
            "",
        ]
    ]
    rows += [
        [
            f"{p.limit:g}%",
            f"{p.objective['balance']:.1f}%",
            _num(len(p.result.unallocated)),
            _num(p.objective["statutory"]),
            _num(p.objective["continuity"]),
            _num(p.objective["travel"]),
            _num(p.rest("balance")),
            "yes" if id(p) in front else "no",
            "passed" if p.checked else '<span class="bad">FAILED</span>',
        ]
        for p in points
    ]
    table = _table(
        [
            "Peak cap",
            "Peak reached",
            "Unallocated",
            "Statutory",
            "Changing worker",
            "Travel",
            "Rest of objective",
            "Best trade-off",
            "Check",
        ],
        rows,
    )
    tight, loose = points[0], points[-1]
    more = len(tight.result.unallocated) - len(loose.result.unallocated)
    words = (
        f"Capping every worker at {tight.limit:g}% of capacity would leave "
        f"{len(tight.result.unallocated):,} children unallocated "
        f"({_signed(more)} against a {loose.limit:g}% cap), "
        f"{tight.objective['statutory']:.0f} of them statutory."
    )
    if len(points) == 1:
        words = f"Only the {tight.limit:g}% cap admits an allocation."
    return head + (
        f'<p>{_e(words)}</p><div class="cols split"><div>{chart}</div><div>'
        '<p class="note">Each cap is a hard limit on every worker\'s utilisation; the rest of '
        "the objective (statutory and other unallocated cases, changes of worker, travel, "
        "weighted) is then minimised, solving for "
        f"{whatif.seconds:g} s per cap. Every point is re-read against the instance and checked "
        "independently. A best trade-off is one no other point beats on both axes. "
        "Unallocated counts are cases; statutory counts are cases that must be allocated; "
        "travel is in visit-minutes per month.</p>"
        f"</div></div>{table}</section>"
    )


def _capacity_section(whatif: _Whatif) -> str:
    head = '<section id="capacity"><h2>What more capacity would buy</h2>'
    if whatif.capacity is None:
        return head + "<p>Not computed for this report.</p></section>"
    values = whatif.capacity
    if not values:
        return head + "<p>No worker has capacity to extend.</p></section>"
    shown = [v for v in values if v.confirmed is not None]
    shown += [v for v in values if v.confirmed is None][: max(0, 8 - len(shown))]
    rows = [
        [
            _id(v.worker),
            _id(v.locality),
            _e(", ".join(safe_cell(s) for s in v.skills) or "–"),
            _signed(v.estimate),
            _signed(v.confirmed),
            _signed(v.unallocated_change),
            _signed(v.statutory_change),
            "–" if v.checked is None else ("passed" if v.checked else '<b class="bad">FAILED</b>'),
        ]
        for v in shown
    ]
    table = _table(
        [
            "+0.5 FTE for",
            "Locality",
            "Skills",
            "Estimated change",
            "Confirmed change",
            "Unallocated",
            "Statutory",
            "Check",
        ],
        rows,
    )
    confirmed = [v for v in values if v.confirmed is not None]
    words = ""
    if confirmed:
        best = min(confirmed, key=lambda v: (v.unallocated_change or 0, v.confirmed))
        gained = -(best.unallocated_change or 0)
        words = (
            f"<p>Of the confirmed candidates, half a post more like {_id(best.worker)} "
            f"({_id(best.locality)}) would allocate {gained} more "
            f"child{'ren' if gained != 1 else ''} tomorrow without moving anyone else "
            f"(objective {_e(_signed(best.confirmed))}).</p>"
        )
    return head + (
        words + table + '<p class="note">For each locality and each skill, the worker whose '
        "extra capacity the linear relaxation prices highest is a candidate; the estimate is "
        "the change in the weighted objective from those prices (negative is better). The "
        "strongest candidates are confirmed by re-solving from this allocation, with and "
        "without the extra capacity, keeping everyone's current cases.</p></section>"
    )


def render_report(
    instance: Instance,
    result: Result,
    *,
    tradeoff_seconds: float | None = 2.0,
    capacity: bool = True,
    threads: int = 2,
    caps: Sequence[float] = (80, 90, 100),
) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    if tradeoff_seconds is not None and not tradeoff_seconds > 0:
        raise ValueError(f"tradeoff_seconds must be > 0 or None, got {tradeoff_seconds}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    started = time.perf_counter()
    report = check(instance, result)
    tables = breakdown(instance, result)
    front = capacity_values = None
    if tradeoff_seconds is not None:
        from caseload.tradeoffs import peak_front

        front = peak_front(instance, caps, time_limit=tradeoff_seconds, threads=threads)
    if capacity:
        from caseload.tradeoffs import capacity_values as values

        capacity_values = values(
            instance,
            result,
            confirm=3,
            time_limit=tradeoff_seconds or 2.0,
            threads=threads,
        )
    whatif = _Whatif(front, capacity_values, tradeoff_seconds or 2.0)
    name = instance.name or "instance"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        _headline(instance, result, report.ok, len(report.violations)),
        _unallocated_section(instance, result),
        _fairness_section(result, tables),
        _tradeoff_section(result, whatif, caps),
        _capacity_section(whatif),
    ]
    elapsed = time.perf_counter() - started
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Allocation report: {_id(name)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>Allocation report: {_id(name)}</h1>"
        f'<p class="meta">{len(instance.cases):,} cases, {len(instance.workers):,} workers, '
        f"{len(instance.localities):,} localities. Generated {_e(stamp)} by caseload in "
        f"{elapsed:.1f} s. Case and worker ids only; no personal data.</p>"
        + "".join(body)
        + "</main></body></html>\n"
    )


def write_report(
    instance: Instance,
    result: Result,
    path: str | os.PathLike[str],
    *,
    tradeoff_seconds: float | None = 2.0,
    capacity: bool = True,
    threads: int = 2,
    caps: Sequence[float] = (80, 90, 100),
) -> Path:
    """Write a self-contained HTML report of an allocation.

    The page has headline figures, the unallocated children by priority and
    reason (case ids only), caseload fairness, the peak-utilisation trade-off
    curve and the marginal value of capacity. It needs no network, script or
    plotting library: charts are inline SVG.

    Parameters
    ----------
    instance
        The instance that was solved.
    result
        Its allocation (for a result read from a file, use
        :func:`caseload.result.result_from_dict`, which checks it first). The
        report runs the independent checker again and shows the outcome.
    path
        Where to write the page. It is written whole or not at all: through a
        temporary file in the same folder that replaces ``path`` or is
        removed on error.
    tradeoff_seconds
        Solve time per trade-off point and per capacity re-solve; ``None``
        leaves the trade-off curve out.
    capacity
        Whether to estimate and confirm the marginal value of capacity
        (an LP of up to 30 s and four re-solves of ``tradeoff_seconds``).
    threads
        Solver threads for the trade-off solves.
    caps
        Peak-utilisation caps of the trade-off curve, in percent.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import caseload as cl                                    # doctest: +SKIP
    >>> from caseload.report import write_report                 # doctest: +SKIP
    >>> write_report(instance, cl.solve(instance), "report.html")  # doctest: +SKIP
    """
    # All solving happens before the file is opened, so a failure leaves nothing.
    page = render_report(
        instance,
        result,
        tradeoff_seconds=tradeoff_seconds,
        capacity=capacity,
        threads=threads,
        caps=caps,
    )
    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=target.resolve().parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
