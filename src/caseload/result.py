"""The allocation returned to callers, with its objective, bound and reasons."""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from caseload.compile import Compiled
from caseload.data import TERMS, Instance

RESULT_FORMAT = "caseload-result/1"
REASONS = ("no_eligible_worker", "capacity", "trade_off")
_PRIORITY_WORDS = {5: "red", 4: "red/amber", 3: "amber", 2: "amber/green", 1: "green"}


@dataclass(frozen=True, slots=True)
class Unallocated:
    """A case left unallocated, with the verified reason and a plain-words detail."""

    case: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Move:
    """A case whose current worker does not keep it in an allocation.

    Attributes
    ----------
    case
        The case id.
    from_worker
        Its current worker (possibly someone no longer in the instance).
    to_worker
        Its worker in the allocation, or ``None`` if it is left unallocated.
    forced
        ``True`` when the case had to move, or at least some of its current
        worker's cases had to: the worker has left, is no longer eligible for
        it (or its whole sibling group), or their limits no longer hold all
        the cases they hold (a capacity cut, say).
    """

    case: str
    from_worker: str
    to_worker: str | None
    forced: bool


def moves_of(compiled: Compiled, assignment: dict[str, str | None]) -> list[Move]:
    """Every case not kept by its current worker, in instance order."""
    inst = compiled.instance
    index = {w.id: j for j, w in enumerate(inst.workers)}
    # A worker can keep a group only if eligible for all of it.
    group_ok = np.ones((int(compiled.item_of_case.max(initial=-1)) + 1, len(index)), dtype=bool)
    if len(inst.cases):
        np.logical_and.at(group_ok, compiled.item_of_case, compiled.eligible)
    # Workers whose limits cannot hold every case they hold today.
    points = np.zeros(len(index))
    count = np.zeros(len(index))
    for case in inst.cases:
        j = index.get(case.current_worker or "")
        if j is not None:
            points[j] += inst.points(case)
            count[j] += 1
    over = {
        w.id
        for j, w in enumerate(inst.workers)
        if points[j] > w.capacity * (1 + 1e-9)
        or (w.max_cases is not None and count[j] > w.max_cases)
    }
    out = []
    for i, case in enumerate(inst.cases):
        now = case.current_worker
        if now is None or assignment.get(case.id) == now:
            continue
        j = index.get(now)
        forced = j is None or now in over or not group_ok[compiled.item_of_case[i], j]
        out.append(Move(case.id, now, assignment.get(case.id), bool(forced)))
    return out


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker's caseload in an allocation."""

    worker: str
    cases: int
    points: float
    capacity: float
    new_cases: int

    @property
    def utilisation(self) -> float | None:
        """Points over capacity (``None`` for a worker with no capacity)."""
        return self.points / self.capacity if self.capacity > 0 else None


def evaluate(instance: Instance, assignment: dict[str, str | None]) -> dict[str, float]:
    """The objective terms and weighted total of an allocation, from the instance.

    Parameters
    ----------
    instance
        The instance.
    assignment
        Case id -> worker id, or ``None`` for unallocated.
    """
    from caseload.travel import travel_matrix

    minutes = travel_matrix(instance)
    loc = {x.id: i for i, x in enumerate(instance.localities)}
    workers = {w.id: w for w in instance.workers}
    load = dict.fromkeys(workers, 0.0)
    terms = dict.fromkeys(TERMS, 0.0)
    for case in instance.cases:
        worker = assignment.get(case.id)
        if case.current_worker in workers and worker != case.current_worker:
            terms["continuity"] += 1
        if worker is None:
            terms["statutory"] += instance.statutory(case)
            terms["unallocated"] += case.priority
            continue
        w = workers[worker]
        terms["travel"] += instance.visits(case) * float(minutes[loc[w.base], loc[case.location]])
        load[worker] += instance.points(case)
    peaks = [100.0 * (load[w.id] / w.capacity) for w in instance.workers if w.capacity > 0]
    terms["balance"] = max(peaks, default=0.0)
    weights = instance.weights.as_dict()
    return {"total": sum(weights[t] * terms[t] for t in TERMS), **terms}


def worker_rows(instance: Instance, assignment: dict[str, str | None]) -> list[WorkerRow]:
    """Per-worker cases, points, capacity and new cases, in instance order."""
    count: Counter[str] = Counter()
    new: Counter[str] = Counter()
    points: dict[str, float] = {}
    for case in instance.cases:
        worker = assignment.get(case.id)
        if worker is None:
            continue
        count[worker] += 1
        new[worker] += case.current_worker != worker
        points[worker] = points.get(worker, 0.0) + instance.points(case)
    return [
        WorkerRow(w.id, count[w.id], points.get(w.id, 0.0), w.capacity, new[w.id])
        for w in instance.workers
    ]


def unallocated_reasons(
    compiled: Compiled, assignment: dict[str, str | None]
) -> dict[str, Unallocated]:
    """The true reason each unallocated case is unallocated, in this allocation.

    A sibling group is judged as a whole: ``no_eligible_worker`` when no worker
    is eligible for every member; ``capacity`` when every worker who is would
    break capacity, ``max_cases`` or ``max_new_cases`` by taking the whole
    group on top of their cases here; ``trade_off`` otherwise.
    """
    inst = compiled.instance
    rows = {r.worker: r for r in worker_rows(inst, assignment)}
    workers = inst.workers
    members: dict[int, list[int]] = {}
    for i, case in enumerate(inst.cases):
        if assignment.get(case.id) is None:
            members.setdefault(int(compiled.item_of_case[i]), []).append(i)
    out: dict[str, Unallocated] = {}
    for idx in members.values():
        group = [inst.cases[i] for i in idx]
        ok = np.logical_and.reduce(compiled.eligible[idx], axis=0)
        candidates = np.flatnonzero(ok)
        label = "group" if len(group) > 1 else "case"
        if candidates.size == 0:
            reason = "no_eligible_worker"
            detail = f"no worker is eligible for the whole {label}"
            if len(group) == 1:
                detail = _why_nobody(compiled, idx[0])
        else:
            points = sum(inst.points(c) for c in group)
            full = Counter[str]()
            room = []
            for j in candidates.tolist():
                w = workers[j]
                row = rows[w.id]
                new = sum(c.current_worker != w.id for c in group)
                broke = []
                if row.points + points > w.capacity * (1 + 1e-9):
                    broke.append("capacity")
                if w.max_cases is not None and row.cases + len(group) > w.max_cases:
                    broke.append("max_cases")
                if w.max_new_cases is not None and row.new_cases + new > w.max_new_cases:
                    broke.append("max_new_cases")
                full.update(broke)
                if not broke:
                    room.append(w.id)
            n = int(candidates.size)
            if not room:
                reason = "capacity"
                limits = ", ".join(f"{k} {v}" for k, v in sorted(full.items()))
                who = f"all {n} eligible workers are" if n != 1 else "the one eligible worker is"
                detail = f"{who} full (limits reached: {limits})"
            else:
                reason = "trade_off"
                detail = (
                    f"{len(room)} of {n} eligible workers had room; placing the {label} "
                    "would have cost more in the weighted objective than leaving it"
                )
        for c in group:
            out[c.id] = Unallocated(c.id, reason, detail)
    return out


def _why_nobody(compiled: Compiled, i: int) -> str:
    """Which eligibility rule rules out most workers for case ``i``."""
    inst = compiled.instance
    case = inst.cases[i]
    from caseload.eligibility import why_not_eligible

    loc = {x.id: k for k, x in enumerate(inst.localities)}
    counts: Counter[str] = Counter()
    for w in inst.workers:
        t = float(compiled.minutes[loc[w.base], loc[case.location]])
        why = why_not_eligible(inst, w, case, t)
        if why is not None:
            counts[why] += 1
    if not inst.workers:
        return "the instance has no workers"
    parts = [f"{v} {k}" for k, v in counts.most_common(3)]
    return f"no worker is eligible: of {len(inst.workers)} workers, " + "; ".join(parts)


@dataclass(frozen=True, eq=False)
class Result:
    """A checked allocation with its objective, proven bound and reasons.

    Attributes
    ----------
    instance_name
        The instance's ``name``.
    status
        ``"optimal"`` (proved) or ``"feasible"``.
    objective
        ``total`` and the five terms, unweighted.
    weights
        The weights used.
    bound, bound_source
        A proven lower bound on ``total`` and what proved it, or ``None``.
    assignments
        Case id -> worker id for allocated cases, in instance order.
    unallocated
        Case id -> :class:`Unallocated`, in instance order.
    workers
        One :class:`WorkerRow` per worker, in instance order.
    runtime_seconds
        Wall-clock time of the solve.
    moves
        Every case not kept by its current worker (see :class:`Move`).
    statistics
        Solver details (strategy, statuses, sizes).
    """

    instance_name: str | None
    status: str
    objective: dict[str, float]
    weights: dict[str, float]
    bound: float | None
    bound_source: str | None
    assignments: dict[str, str]
    unallocated: dict[str, Unallocated]
    workers: list[WorkerRow]
    runtime_seconds: float
    statistics: dict[str, Any] = field(default_factory=dict)
    moves: tuple[Move, ...] = ()

    @property
    def gap(self) -> float | None:
        """``(total - bound) / max(|total|, 1)``, or ``None`` without a bound."""
        if self.bound is None:
            return None
        total = self.objective["total"]
        return (total - self.bound) / max(abs(total), 1.0)

    @property
    def allocation(self) -> dict[str, str | None]:
        """Case id -> worker id or ``None``, for every case."""
        out: dict[str, str | None] = dict(self.assignments)
        out.update(dict.fromkeys(self.unallocated))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The result in the ``caseload-result/1`` format."""
        return {
            "format": RESULT_FORMAT,
            "instance": self.instance_name,
            "status": self.status,
            "objective": dict(self.objective),
            "bound": self.bound,
            "gap": self.gap,
            "assignments": [{"case": c, "worker": w} for c, w in self.assignments.items()],
            "unallocated": [
                {"case": u.case, "reason": u.reason, **({"detail": u.detail} if u.detail else {})}
                for u in self.unallocated.values()
            ],
            "workers": [
                {
                    "worker": r.worker,
                    "cases": r.cases,
                    "points": r.points,
                    "capacity": r.capacity,
                    "utilisation": r.utilisation,
                }
                for r in self.workers
            ],
            "runtime_seconds": round(self.runtime_seconds, 3),
            "bound_source": self.bound_source,
            "moves": [
                {"case": m.case, "from": m.from_worker, "to": m.to_worker, "forced": m.forced}
                for m in self.moves
            ],
            "weights": dict(self.weights),
            "statistics": self.statistics,
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the result as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    # -- summaries ------------------------------------------------------------
    def _figures(self) -> dict[str, Any]:
        rows = [r for r in self.workers if r.capacity > 0]
        utils = sorted(100 * (r.utilisation or 0.0) for r in rows)
        cases = sorted(r.cases for r in rows)
        reasons = Counter(u.reason for u in self.unallocated.values())
        return {
            "n_cases": len(self.assignments) + len(self.unallocated),
            "n_alloc": len(self.assignments),
            "reasons": reasons,
            "cases_median": float(np.median(cases)) if cases else 0.0,
            "cases_range": (cases[0], cases[-1]) if cases else (0, 0),
            "util_median": float(np.median(utils)) if utils else 0.0,
            "util_min": utils[0] if utils else 0.0,
        }

    def summary(self, priorities: dict[str, int] | None = None) -> str:
        """A summary a team manager can read: placed, unplaced and why, fairness, travel.

        Parameters
        ----------
        priorities
            Case id -> priority, to break unallocated cases down by risk.
        """
        f = self._figures()
        o = self.objective
        lines = [
            f"Allocation for {self.instance_name or 'instance'}: {f['n_cases']:,} cases, "
            f"{len(self.workers):,} workers ({self.status}, {self.runtime_seconds:.1f} s)",
            f"  Allocated:    {f['n_alloc']:,} cases",
            f"  Unallocated:  {len(self.unallocated):,} cases, of which "
            f"{int(o['statutory'])} statutory (must be allocated)",
        ]
        if self.unallocated:
            lines.append(
                "    by reason:   "
                + ", ".join(f"{r.replace('_', ' ')} {f['reasons'][r]}" for r in REASONS)
            )
            if priorities is not None:
                by_p = Counter(priorities[c] for c in self.unallocated)
                lines.append(
                    "    by priority: "
                    + ", ".join(
                        f"{_PRIORITY_WORDS.get(k, k)} ({k}) {by_p[k]}"
                        for k in sorted(by_p, reverse=True)
                    )
                )
        lo, hi = f["cases_range"]
        lines += [
            f"  Caseloads:    median {f['cases_median']:g} children per worker (range {lo}-{hi})",
            f"  Utilisation:  median {f['util_median']:.0f}%, lowest {f['util_min']:.0f}%, "
            f"peak {o['balance']:.1f}%",
            f"  Continuity:   {int(o['continuity'])} children would change worker",
            f"  Travel:       {o['travel']:,.0f} visit-minutes per month",
            f"  Objective:    {o['total']:,.2f}",
        ]
        if self.bound is not None:
            lines.append(
                f"  Bound:        {self.bound:,.2f} ({self.bound_source}); "
                f"gap {100 * (self.gap or 0.0):.2f}%"
            )
        else:
            lines.append("  Bound:        none proved")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        f = self._figures()
        o = self.objective
        gap = "n/a" if self.gap is None else f"{100 * self.gap:.2f}%"
        bound = "none" if self.bound is None else f"{self.bound:,.2f} ({self.bound_source})"
        rows = [
            ("Status", f"{self.status} in {self.runtime_seconds:.1f} s"),
            ("Allocated", f"{f['n_alloc']:,} of {f['n_cases']:,} cases"),
            ("Unallocated", f"{len(self.unallocated):,} ({int(o['statutory'])} statutory)"),
            *((f"&nbsp;&nbsp;{r.replace('_', ' ')}", str(f["reasons"][r])) for r in REASONS),
            ("Peak utilisation", f"{o['balance']:.1f}%"),
            ("Median utilisation", f"{f['util_median']:.0f}%"),
            ("Children changing worker", f"{int(o['continuity'])}"),
            ("Travel (visit-minutes/month)", f"{o['travel']:,.0f}"),
            ("Objective", f"{o['total']:,.2f}"),
            ("Bound", bound),
            ("Gap", gap),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td>{html.escape(v)}</td></tr>"
            for k, v in rows
        )
        title = html.escape(self.instance_name or "instance")
        return f"<div><strong>caseload result: {title}</strong><table>{body}</table></div>"


def result_of(
    instance: Instance,
    allocation: dict[str, str | None],
    *,
    statistics: dict[str, Any] | None = None,
) -> Result:
    """A :class:`Result` for any allocation of ``instance``, every figure recomputed.

    No bound is claimed (status ``feasible``): use it for allocations found
    on a variant of the instance (a capped or reweighted one), re-read in the
    instance's own terms. The allocation must satisfy the hard constraints;
    :func:`caseload.check` says whether it does.
    """
    from caseload.compile import compile_instance

    full: dict[str, str | None] = {c.id: allocation.get(c.id) for c in instance.cases}
    compiled = compile_instance(instance)
    reasons = unallocated_reasons(compiled, full)
    return Result(
        instance_name=instance.name,
        status="feasible",
        objective=evaluate(instance, full),
        weights=instance.weights.as_dict(),
        bound=None,
        bound_source=None,
        assignments={c.id: w for c in instance.cases if (w := full[c.id]) is not None},
        unallocated={c.id: reasons[c.id] for c in instance.cases if full[c.id] is None},
        workers=worker_rows(instance, full),
        runtime_seconds=0.0,
        statistics=dict(statistics or {}),
        moves=tuple(moves_of(compiled, full)),
    )


def result_from_dict(instance: Instance, data: Any) -> Result:
    """A :class:`Result` from a ``caseload-result/1`` object, checked against ``instance``.

    The file is not trusted: the independent checker runs first, and every
    figure (objective, caseloads, reasons, moves) is recomputed from the
    instance and the assignment; only status, bound and statistics are read.

    Raises
    ------
    InvalidInstanceError
        If the result does not pass the checker, listing every violation.
    """
    from caseload.check import _is_number, check_result
    from caseload.errors import InvalidInstanceError, Problem

    report = check_result(instance.to_dict(), data)
    if not report.ok:
        raise InvalidInstanceError(
            [Problem(v.split(":", 1)[0], v.split(":", 1)[-1].strip()) for v in report.violations]
        )
    allocation = {row["case"]: row["worker"] for row in data["assignments"]}
    # Statistics and runtime are not checked (the spec leaves them open):
    # what is not an object or a number is left out rather than trusted.
    statistics = data.get("statistics")
    runtime = data.get("runtime_seconds")
    rebuilt = result_of(
        instance,
        allocation,
        statistics=dict(statistics) if isinstance(statistics, Mapping) else {},
    )
    bound = data.get("bound")
    return replace(
        rebuilt,
        status=str(data["status"]),
        bound=float(bound) if isinstance(bound, int | float) else None,
        bound_source=data.get("bound_source") if bound is not None else None,
        runtime_seconds=float(runtime) if _is_number(runtime) else 0.0,
    )
