"""Matplotlib charts of an allocation (``pip install 'caseload[plots]'``).

Each function draws on the ``ax`` it is given and returns it, so charts
compose into a caller's figure::

    import matplotlib.pyplot as plt
    from caseload import plots

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    plots.caseload_distribution(result, ax=a)
    plots.unallocated_by_reason(result, instance, ax=b)
    fig.savefig("caseloads.png")

Without ``ax``, a new :class:`matplotlib.figure.Figure` is made directly,
not through :mod:`matplotlib.pyplot`: nothing is registered with pyplot, so
a service drawing many charts keeps no figures open and no backend is
chosen or changed; save it with ``ax.figure.savefig(...)``. matplotlib is
imported only when a function is called, so ``import caseload.plots``
works without it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from caseload.data import Instance
from caseload.report import PRIORITY_COLOURS
from caseload.result import _PRIORITY_WORDS, REASONS, Result

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from caseload.tradeoffs import FrontPoint

_BLUE, _LIGHT, _ORANGE = "#2f5d8a", "#9bb7d4", "#e07b39"


def _axes(ax: Axes | None, size: tuple[float, float] = (6.4, 4.0)) -> Axes:
    """``ax``, or the axes of a new pyplot-free figure."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("caseload.plots needs matplotlib: pip install 'caseload[plots]'") from exc
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").add_subplot()


def caseload_distribution(
    result: Result,
    ax: Axes | None = None,
    *,
    kind: Literal["utilisation", "cases"] = "utilisation",
    bins: int | Sequence[float] | None = None,
) -> Axes:
    """Histogram of workers' utilisation (or number of cases).

    Only workers with capacity are counted (utilisation is undefined at
    zero capacity). The median and the peak are marked.

    Parameters
    ----------
    result
        The allocation.
    ax
        Axes to draw on; a new figure's if omitted.
    kind
        ``"utilisation"``: points over capacity, in percent (5% bins up to
        100%). ``"cases"``: children per worker (one bin per count).
    bins
        Bins, as for :meth:`matplotlib.axes.Axes.hist`, instead of the default.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    ax = _axes(ax)
    rows = [r for r in result.workers if r.capacity > 0]
    if kind == "utilisation":
        values = [100 * (r.utilisation or 0.0) for r in rows]
        low = min(values, default=0.0)
        start = max(0, min(int(low // 5) * 5, 80))
        edges = bins if bins is not None else list(range(start, 101, 5))
        label = "utilisation (% of capacity in points)"
    elif kind == "cases":
        values = [float(r.cases) for r in rows]
        top = int(max(values, default=0.0))
        edges = bins if bins is not None else [k - 0.5 for k in range(top + 2)]
        label = "children per worker"
    else:
        raise ValueError(f"kind must be 'utilisation' or 'cases', got {kind!r}")
    if not values:
        ax.text(0.5, 0.5, "no worker has capacity", ha="center", transform=ax.transAxes)
        return ax
    ax.hist(values, bins=edges, color=_BLUE, edgecolor="white")
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    unit = "%" if kind == "utilisation" else ""
    ax.axvline(median, color=_ORANGE, linestyle="--", label=f"median {median:.0f}{unit}")
    ax.axvline(ordered[-1], color="#c0392b", linestyle=":", label=f"peak {ordered[-1]:.0f}{unit}")
    ax.set_xlabel(label)
    ax.set_ylabel("workers")
    ax.set_title(f"{len(values)} workers with capacity")
    ax.legend(frameon=False)
    return ax


def utilisation_by_locality(instance: Instance, result: Result, ax: Axes | None = None) -> Axes:
    """Capacity, demand and allocated points per locality, as grouped bars.

    Capacity counts the workers based in a locality; demand and allocated
    points count the cases located there (from
    :func:`caseload.breakdown.breakdown`), so a locality whose demand
    exceeds its capacity relies on workers from elsewhere.

    Parameters
    ----------
    instance
        The instance that was solved.
    result
        Its allocation.
    ax
        Axes to draw on; a new figure's if omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    from caseload.breakdown import breakdown

    ax = _axes(ax, (7.5, 4.0))
    rows = [r for r in breakdown(instance, result).localities if r["cases"] or r["workers"]]
    names = [str(r["locality"]) for r in rows]
    width = 0.27
    for k, (key, label, colour) in enumerate(
        (
            ("capacity", "capacity", _BLUE),
            ("demand", "demand", _ORANGE),
            ("allocated_points", "allocated", _LIGHT),
        )
    ):
        ax.bar(
            [i + (k - 1) * width for i in range(len(rows))],
            [r[key] for r in rows],
            width=width,
            color=colour,
            label=label,
        )
    ax.set_xticks(range(len(rows)), names, rotation=30 if len(rows) > 6 else 0, ha="center")
    ax.set_ylabel("workload points")
    ax.set_title("Capacity, demand and allocated points by locality")
    ax.legend(frameon=False, ncols=3)
    return ax


def tradeoff_curve(
    points: Sequence[FrontPoint],
    term: str = "balance",
    ax: Axes | None = None,
    *,
    current: Result | None = None,
) -> Axes:
    """A trade-off curve: ``term`` against the weighted rest of the objective.

    Non-dominated points (:func:`caseload.tradeoffs.non_dominated`) are
    joined and filled; dominated ones are hollow. Each point is labelled with
    its limit.

    Parameters
    ----------
    points
        From :func:`caseload.tradeoffs.peak_front` or
        :func:`~caseload.tradeoffs.moves_front`.
    term
        The term on the x axis (``"balance"`` for the peak front,
        ``"continuity"`` for the moves front).
    ax
        Axes to draw on; a new figure's if omitted.
    current
        An allocation to mark for comparison (e.g. today's).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    from caseload.tradeoffs import non_dominated

    ax = _axes(ax)
    if not points:
        ax.text(0.5, 0.5, "no trade-off points", ha="center", transform=ax.transAxes)
        return ax
    best = {id(p) for p in non_dominated(points, term)}
    front = sorted((p for p in points if id(p) in best), key=lambda p: p.objective[term])
    ax.plot(
        [p.objective[term] for p in front],
        [p.rest(term) for p in front],
        "-o",
        color=_BLUE,
        label="best trade-offs",
    )
    others = [p for p in points if id(p) not in best]
    if others:
        ax.plot(
            [p.objective[term] for p in others],
            [p.rest(term) for p in others],
            "o",
            markerfacecolor="white",
            color="#999999",
            label="dominated",
        )
    unit = "%" if term == "balance" else ""
    for p in points:
        ax.annotate(
            f"{p.limit:g}{unit}",
            (p.objective[term], p.rest(term)),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    if current is not None:
        o = current.objective
        ax.plot(
            [o[term]],
            [o["total"] - current.weights[term] * o[term]],
            "D",
            color=_ORANGE,
            label="current",
        )
    rests = [p.rest(term) for p in points]
    # The statutory weight can make the rest jump by orders of magnitude.
    if min(rests) > 0 and max(rests) / min(rests) > 20:
        ax.set_yscale("log")
    ax.set_xlabel("peak utilisation (%)" if term == "balance" else term)
    ax.set_ylabel(f"weighted objective without {term}")
    ax.set_title("Trade-off curve")
    ax.legend(frameon=False)
    return ax


def unallocated_by_reason(
    result: Result, instance: Instance | None = None, ax: Axes | None = None
) -> Axes:
    """Unallocated cases per reason, stacked by priority when ``instance`` is given.

    Parameters
    ----------
    result
        The allocation.
    instance
        Its instance, to split each reason's bar by risk priority (red 5 to
        green 1); without it, one bar per reason.
    ax
        Axes to draw on; a new figure's if omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on.
    """
    ax = _axes(ax)
    names = [r.replace("_", " ") for r in REASONS]
    if instance is None:
        count = Counter(u.reason for u in result.unallocated.values())
        ax.bar(names, [count[r] for r in REASONS], color=_BLUE)
    else:
        priority = {c.id: c.priority for c in instance.cases}
        split = Counter((priority[u.case], u.reason) for u in result.unallocated.values())
        base = [0] * len(REASONS)
        for p in (5, 4, 3, 2, 1):
            heights = [split[p, r] for r in REASONS]
            if any(heights):
                ax.bar(
                    names,
                    heights,
                    bottom=base,
                    color=PRIORITY_COLOURS[p],
                    label=f"{p} {_PRIORITY_WORDS[p]}",
                )
            base = [b + h for b, h in zip(base, heights, strict=True)]
        if result.unallocated:
            ax.legend(frameon=False, title="priority")
    ax.set_ylabel("unallocated cases")
    ax.set_title(f"{len(result.unallocated):,} unallocated cases by reason")
    return ax
