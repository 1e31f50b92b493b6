r"""Trade-offs: what fairness costs, what moves buy, what capacity is worth.

Trade-off curves use the epsilon-constraint method: one objective becomes a
hard limit :math:`\varepsilon`, the rest is minimised, and :math:`\varepsilon`
sweeps a range. Two curves matter to a service:

- **fairness** (:func:`peak_front`): the peak utilisation is capped at
  :math:`\varepsilon` percent — every worker's points at most
  :math:`\varepsilon\, K_w / 100` — and the other weighted terms are
  minimised (balance weight 0). Caps are swept from tight to loose, so each
  answer is a feasible warm start for the next.
- **disruption** (:func:`moves_front`): at most :math:`\varepsilon` cases move
  from their current worker beyond those that must (``max_moves``), and the
  objective is minimised.

Each point's allocation is re-read in the instance's own terms (its true
objective, reasons and moves) and checked by the independent checker.

The marginal value of capacity (:func:`capacity_values`) is estimated from
the LP relaxation's duals: with :math:`\mu_{w}` the price of worker
:math:`w`'s capacity and :math:`\mu^{\mathrm{cases}}_{w}` of their case limit,
giving :math:`w` another :math:`\Delta K` points and :math:`\Delta M` cases
changes the objective by about
:math:`-(\mu_w \Delta K + \mu^{\mathrm{cases}}_w \Delta M)`. The most valuable
candidates are then confirmed by re-solving from the current allocation.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from caseload.check import check
from caseload.data import TERMS, Instance
from caseload.errors import InvalidInstanceError
from caseload.result import Result, result_of


@dataclass(frozen=True)
class FrontPoint:
    """One point of a trade-off curve.

    Attributes
    ----------
    limit
        The epsilon: a peak-utilisation cap (percent) or a moves budget.
    result
        The allocation, in the instance's own terms (status ``feasible``).
    checked
        Whether the independent checker passed it against the instance.
    """

    limit: float
    result: Result
    checked: bool

    @property
    def objective(self) -> dict[str, float]:
        """The allocation's terms and weighted total."""
        return self.result.objective

    def rest(self, term: str) -> float:
        """The weighted total without ``term``: the other side of the trade-off."""
        o = self.result.objective
        return o["total"] - self.result.weights[term] * o[term]


def peak_front(
    instance: Instance,
    caps: Iterable[float] = (70, 75, 80, 85, 90, 95, 100),
    *,
    time_limit: float = 10.0,
    threads: int = 2,
    seed: int = 0,
) -> list[FrontPoint]:
    """Fairness against everything else: the best allocation under each peak cap.

    Parameters
    ----------
    instance
        The instance.
    caps
        Peak-utilisation caps in percent; solved from the tightest up, each
        warm-started from the previous answer (which fits every looser cap).
    time_limit, threads, seed
        Per point, as for :func:`caseload.solve`.

    Returns
    -------
    list of FrontPoint
        One per cap that admits an allocation (a cap below a worker's pinned
        work admits none and is skipped), tightest first. Plot
        ``point.objective["balance"]`` against ``point.rest("balance")``.
    """
    from caseload.scenarios import with_peak_cap
    from caseload.solve import solve

    points = []
    previous: Result | None = None
    for cap in sorted(caps):
        try:
            variant = with_peak_cap(instance, cap)
        except InvalidInstanceError:
            continue  # pinned work alone breaks this cap
        found = solve(variant, time_limit=time_limit, threads=threads, seed=seed, start=previous)
        previous = found
        result = result_of(instance, found.allocation, statistics={"peak_cap": cap})
        points.append(FrontPoint(cap, result, check(instance, result).ok))
    return points


def moves_front(
    instance: Instance,
    budgets: Iterable[int] = (0, 2, 5, 10, 20, 50),
    *,
    time_limit: float = 2.0,
    threads: int = 2,
    seed: int = 0,
) -> list[FrontPoint]:
    """Disruption against everything else: the best allocation per moves budget.

    Parameters
    ----------
    instance
        An instance whose cases carry today's ``current_worker`` (see
        :func:`caseload.scenarios.with_allocation`).
    budgets
        Values of ``max_moves``.
    time_limit, threads, seed
        Per point, as for :func:`caseload.solve`.
    """
    from caseload.solve import solve

    points: list[FrontPoint] = []
    for budget in sorted(budgets):
        found = solve(instance, max_moves=budget, time_limit=time_limit, threads=threads, seed=seed)
        if points and points[-1].objective["total"] < found.objective["total"]:
            # The smaller budget's answer respects this one too: a curve that
            # went up with more moves would only show search noise.
            found = points[-1].result
        points.append(FrontPoint(float(budget), found, check(instance, found).ok))
    return points


def non_dominated(points: Sequence[FrontPoint], term: str) -> list[FrontPoint]:
    """The points no other point beats on both ``term`` and the rest."""
    keep = []
    for p in points:
        x, y = p.objective[term], p.rest(term)
        beaten = any(
            (q.objective[term] <= x and q.rest(term) <= y)
            and (q.objective[term] < x or q.rest(term) < y)
            for q in points
        )
        if not beaten:
            keep.append(p)
    return keep


@dataclass(frozen=True)
class CapacityValue:
    """What a change of capacity would buy.

    Attributes
    ----------
    change
        What is changed, in words (e.g. ``+0.5 FTE for sw-east-004``).
    locality
        The locality the capacity is based in.
    worker
        The worker whose capacity changes, or whose profile a new worker copies.
    skills
        That worker's skills.
    estimate
        LP-dual estimate of the change in the weighted objective (negative:
        better).
    confirmed
        The change found by re-solving (``None`` if not re-solved).
    unallocated_change, statutory_change
        Change in unallocated and statutory unallocated cases, from the re-solve.
    checked
        Whether the re-solved allocation passed the independent checker.
    """

    change: str
    locality: str
    worker: str
    skills: tuple[str, ...]
    estimate: float
    confirmed: float | None = None
    unallocated_change: int | None = None
    statutory_change: int | None = None
    checked: bool | None = None


def _prices(instance: Instance, seconds: float, result: Result) -> np.ndarray:
    """``float64[R, W]``: LP duals of each worker's points, cases and new-case limits.

    The simplex starts from ``result``'s allocation (medium-0: 4.9 s from nothing, 1.7 s from
    a 10 s allocation).
    """
    from caseload.compile import compile_instance
    from caseload.solvers.lp import solve_lp

    compiled = compile_instance(instance)
    lp = solve_lp(
        compiled.problem,
        deadline=time.perf_counter() + seconds,
        start=compiled.item_assignment(result.allocation),
    )
    if lp is None:
        return np.zeros((3, len(instance.workers)))
    mu = lp.mu.copy()
    mu[0] *= compiled.points_scale  # per point of the instance
    return mu


def _half_fte(worker: Any, fte: float) -> tuple[float, int | None]:
    per_fte = worker.capacity / (worker.fte or 1.0)
    extra_cases = None
    if worker.max_cases is not None:
        extra_cases = math.ceil(worker.max_cases / (worker.fte or 1.0) * fte)
    return per_fte * fte, extra_cases


def capacity_values(
    instance: Instance,
    result: Result,
    *,
    fte: float = 0.5,
    confirm: int = 3,
    lp_seconds: float = 30.0,
    max_moves: int = 0,
    time_limit: float = 2.0,
    threads: int = 2,
    executor: Executor | None = None,
) -> list[CapacityValue]:
    """The marginal value of ``fte`` more of a worker, per locality and per skill.

    For every locality and every skill, the worker there whose extra
    capacity the LP prices highest is the candidate; the ``confirm``
    candidates with the largest estimates are re-solved.

    Confirmation runs the daily re-solve (:func:`caseload.solve` with
    ``max_moves``) from ``result``'s allocation, with and without the extra
    capacity, and reports the difference — what the capacity would buy
    tomorrow without reshuffling everyone. With the default ``max_moves=0``
    both re-solves are exact (everyone keeps their cases; the left-out ones
    are placed optimally), so the difference is never positive and is not
    search noise.

    Parameters
    ----------
    instance
        The instance.
    result
        Its current allocation (the baseline).
    fte
        The capacity to add, in full-time equivalents of the candidate.
    confirm
        How many candidates to re-solve.
    lp_seconds
        Time for the LP relaxation.
    max_moves, time_limit, threads
        For each confirming re-solve.
    executor
        Where to run the re-solves (any ``concurrent.futures.Executor``).
    """
    from caseload.scenarios import with_allocation

    mu = _prices(instance, lp_seconds, result)
    values: dict[str, CapacityValue] = {}
    loc_of = {w.id: w.base for w in instance.workers}

    def estimate(j: int) -> float:
        w = instance.workers[j]
        points, cases = _half_fte(w, fte)
        return -(mu[0, j] * points + (mu[1, j] * cases if cases else 0.0))

    groups: dict[str, list[int]] = {}
    for j, w in enumerate(instance.workers):
        if w.capacity <= 0:
            continue
        groups.setdefault(f"locality {w.base}", []).append(j)
        for s in w.skills:
            groups.setdefault(f"skill {s}", []).append(j)
    for members in groups.values():
        j = min(members, key=estimate)
        w = instance.workers[j]
        if w.id not in values:
            values[w.id] = CapacityValue(
                change=f"+{fte:g} FTE for {w.id}",
                locality=loc_of[w.id],
                worker=w.id,
                skills=tuple(w.skills),
                estimate=float(estimate(j)),
            )
    ranked = sorted(values.values(), key=lambda v: v.estimate)
    if confirm <= 0:
        return ranked

    today = with_allocation(instance, result)
    jobs = {"": today}
    for v in ranked[:confirm]:
        j = next(k for k, w in enumerate(today.workers) if w.id == v.worker)
        w = today.workers[j]
        points, cases = _half_fte(w, fte)
        bigger = replace(
            w,
            capacity=w.capacity + points,
            max_cases=None if w.max_cases is None else w.max_cases + (cases or 0),
        )
        workers = (*today.workers[:j], bigger, *today.workers[j + 1 :])
        jobs[v.worker] = Instance.from_dict(replace(today, workers=workers).to_dict())

    from caseload.scenarios import solve_all

    solved = solve_all(
        jobs,
        executor=executor,
        max_moves=max_moves,
        time_limit=time_limit,
        threads=threads,
        seed=0,
    )
    base = solved[""].objective
    out = []
    for v in ranked:
        if v.worker not in solved:
            out.append(v)
            continue
        r = solved[v.worker]
        out.append(
            replace(
                v,
                confirmed=r.objective["total"] - base["total"],
                unallocated_change=len(r.unallocated) - len(solved[""].unallocated),
                statutory_change=int(r.objective["statutory"] - base["statutory"]),
                checked=check(jobs[v.worker], r).ok,
            )
        )
    return out


def describe(points: Sequence[FrontPoint], term: str) -> list[dict[str, Any]]:
    """Rows for a table of a trade-off curve: limit, every term, total, checked."""
    return [
        {
            "limit": p.limit,
            **{t: p.objective[t] for t in TERMS},
            "rest": p.rest(term),
            "total": p.objective["total"],
            "unallocated_cases": len(p.result.unallocated),
            "checked": p.checked,
        }
        for p in points
    ]
