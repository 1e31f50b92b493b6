"""The independent checker: recompute everything from the instance and the result.

It reads the two plain JSON objects (a valid ``caseload-instance/1`` and a
``caseload-result/1``) and shares no code with the solver, the compiler or the
result builder: eligibility, travel (its own Floyd-Warshall), hard constraints,
objective terms and reasons are all derived here again, from the format's own
rules. A malformed result is reported, never raised.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

_DEFAULT_WEIGHTS = {
    "statutory": 1_000_000.0,
    "unallocated": 1000.0,
    "continuity": 200.0,
    "travel": 1.0,
    "balance": 50.0,
}
_TERMS = tuple(_DEFAULT_WEIGHTS)
_REASONS = ("no_eligible_worker", "capacity", "trade_off")


@dataclass(frozen=True)
class CheckReport:
    """What the checker found.

    Attributes
    ----------
    violations
        Every problem, in plain words, naming case and worker ids.
    objective
        The recomputed total and terms (empty if the allocation is unreadable).
    reasons
        The true reason of every unallocated case.
    """

    violations: tuple[str, ...]
    objective: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the result passed every check."""
        return not self.violations


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def _shown(v: Any) -> str:
    """``repr`` of a reported value, cut short (an int of 5,000 digits has none)."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 100:
        return "an integer too large for a float"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(v: Any) -> TypeGuard[float]:
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # a Python int past what a float holds
        return False


class _World:
    """The instance's facts, resolved once."""

    def __init__(self, inst: Mapping[str, Any]) -> None:
        self.types = {t["id"]: t for t in inst["case_types"]}
        self.workers = {w["id"]: w for w in inst["workers"]}
        self.cases = {c["id"]: c for c in inst["cases"]}
        self.order = [c["id"] for c in inst["cases"]]
        weights = inst.get("weights") or {}
        self.weights = {t: float(weights.get(t, d)) for t, d in _DEFAULT_WEIGHTS.items()}
        names = [loc["id"] for loc in inst["localities"]]
        self.loc = {n: i for i, n in enumerate(names)}
        n = len(names)
        t = [[math.inf] * n for _ in range(n)]
        for i in range(n):
            t[i][i] = 0.0
        for e in inst.get("travel") or []:
            a, b = self.loc[e["from"]], self.loc[e["to"]]
            t[a][b] = t[b][a] = min(t[a][b], float(e["minutes"]))
        for k in range(n):
            for i in range(n):
                tik = t[i][k]
                if tik == math.inf:
                    continue
                row_i, row_k = t[i], t[k]
                for j in range(n):
                    if tik + row_k[j] < row_i[j]:
                        row_i[j] = tik + row_k[j]
        for i, loc in enumerate(inst["localities"]):
            t[i][i] = float(loc.get("internal_minutes", 0))
        self.minutes = t
        self.groups: dict[str, list[str]] = {}
        for c in inst["cases"]:
            if c.get("group") is not None:
                self.groups.setdefault(c["group"], []).append(c["id"])

    def points(self, c: Mapping[str, Any]) -> float:
        return float(c["points"]) if "points" in c else float(self.types[c["type"]]["points"])

    def visits(self, c: Mapping[str, Any]) -> float:
        if "visits_per_month" in c:
            return float(c["visits_per_month"])
        return float(self.types[c["type"]].get("visits_per_month", 1))

    def statutory(self, c: Mapping[str, Any]) -> bool:
        if c.get("must_allocate") is not None:
            return bool(c["must_allocate"])
        return bool(self.types[c["type"]].get("must_allocate", False))

    def travel(self, w: Mapping[str, Any], c: Mapping[str, Any]) -> float:
        return self.minutes[self.loc[w["base"]]][self.loc[c["location"]]]

    def eligible(self, w: Mapping[str, Any], c: Mapping[str, Any]) -> bool:
        t = self.travel(w, c)
        limit = w.get("max_travel_minutes")
        return (
            set(c.get("skills", ())) <= set(w.get("skills", ()))
            and c["type"] not in w.get("excluded_case_types", ())
            and w["id"] not in c.get("excluded_workers", ())
            and t != math.inf
            and (limit is None or t <= limit)
            and self.points(c) <= float(w["capacity"])
            and (w.get("max_cases") is None or w["max_cases"] >= 1)
        )


def recompute_objective(
    instance: Mapping[str, Any], assignment: Mapping[str, str | None]
) -> dict[str, float]:
    """The five terms and the weighted total of an allocation (case id -> worker id or None)."""
    return _objective(_World(instance), assignment)


def _objective(world: _World, assignment: Mapping[str, str | None]) -> dict[str, float]:
    terms = dict.fromkeys(_TERMS, 0.0)
    load = dict.fromkeys(world.workers, 0.0)
    for cid, c in world.cases.items():
        wid = assignment.get(cid)
        cw = c.get("current_worker")
        if cw in world.workers and wid != cw:
            terms["continuity"] += 1
        if wid is None:
            terms["statutory"] += world.statutory(c)
            terms["unallocated"] += int(c.get("priority", 1))
            continue
        w = world.workers[wid]
        terms["travel"] += world.visits(c) * world.travel(w, c)
        load[wid] += world.points(c)
    utils = [
        100.0 * (load[k] / float(w["capacity"]))
        for k, w in world.workers.items()
        if w["capacity"] > 0
    ]
    terms["balance"] = max(utils, default=0.0)
    terms["total"] = sum(world.weights[t] * terms[t] for t in _TERMS)
    return terms


def _reasons(world: _World, assignment: Mapping[str, str | None]) -> dict[str, str]:
    """The true reason for every unallocated case, judging sibling groups whole."""
    load: Counter[str] = Counter()
    count: Counter[str] = Counter()
    new: Counter[str] = Counter()
    for cid, wid in assignment.items():
        if wid is None:
            continue
        c = world.cases[cid]
        load[wid] += world.points(c)  # type: ignore[assignment]
        count[wid] += 1
        new[wid] += c.get("current_worker") != wid
    out: dict[str, str] = {}
    for cid, c in world.cases.items():
        if assignment.get(cid) is not None or cid in out:
            continue
        group = world.groups.get(c.get("group"), [cid]) if c.get("group") is not None else [cid]
        members = [world.cases[m] for m in group]
        eligible = [w for w in world.workers.values() if all(world.eligible(w, m) for m in members)]
        if not eligible:
            reason = "no_eligible_worker"
        else:
            pts = sum(world.points(m) for m in members)
            reason = "capacity"
            for w in eligible:
                wid = w["id"]
                fresh = sum(m.get("current_worker") != wid for m in members)
                over = (
                    load[wid] + pts > float(w["capacity"]) * (1 + 1e-9)
                    or (
                        w.get("max_cases") is not None
                        and count[wid] + len(members) > w["max_cases"]
                    )
                    or (
                        w.get("max_new_cases") is not None and new[wid] + fresh > w["max_new_cases"]
                    )
                )
                if not over:
                    reason = "trade_off"
                    break
        for m in group:
            if assignment.get(m) is None:
                out[m] = reason
    return out


def check(instance: Any, result: Any) -> CheckReport:
    """Check a result against its instance; accepts objects with ``to_dict()`` or plain dicts.

    Examples
    --------
    >>> report = check(instance, result)   # doctest: +SKIP
    >>> report.ok, report.violations       # doctest: +SKIP
    """
    inst = instance.to_dict() if hasattr(instance, "to_dict") else instance
    res = result.to_dict() if hasattr(result, "to_dict") else result
    return check_result(inst, res)


def check_result(instance: Mapping[str, Any], result: Any) -> CheckReport:
    """Check a result against its (valid) instance; every violation is listed.

    Parameters
    ----------
    instance
        A valid ``caseload-instance/1`` object.
    result
        A parsed ``caseload-result/1`` object (anything: malformed input is
        reported as violations).
    """
    world = _World(instance)
    v: list[str] = []
    if not isinstance(result, Mapping):
        return CheckReport(("result: must be a JSON object",))
    if result.get("format") != "caseload-result/1":
        v.append(f"format: must be 'caseload-result/1', got {result.get('format')!r}")
    status = result.get("status")
    if status not in ("optimal", "feasible"):
        v.append(f"status: must be 'optimal' or 'feasible', got {status!r}")
    for key in ("objective", "bound", "gap", "assignments", "unallocated", "workers"):
        if key not in result:
            v.append(f"{key}: required key is missing")

    # Who holds what, every case exactly once.
    assignment: dict[str, str | None] = {}
    seen: Counter[str] = Counter()
    stated_reason: dict[str, Any] = {}
    assignments = result.get("assignments", [])
    unallocated = result.get("unallocated", [])
    if not isinstance(assignments, list):
        v.append("assignments: must be a list")
        assignments = []
    if not isinstance(unallocated, list):
        v.append("unallocated: must be a list")
        unallocated = []
    for k, row in enumerate(assignments):
        if not isinstance(row, Mapping) or not isinstance(row.get("case"), str):
            v.append(f"assignments[{k}]: must be an object with a case id")
            continue
        cid, wid = row["case"], row.get("worker")
        seen[cid] += 1
        if cid not in world.cases:
            v.append(f"assignments[{k}]: unknown case {cid!r}")
        elif not isinstance(wid, str) or wid not in world.workers:
            v.append(f"case {cid}: assigned to unknown worker {wid!r}")
        else:
            assignment[cid] = wid
    for k, row in enumerate(unallocated):
        if not isinstance(row, Mapping) or not isinstance(row.get("case"), str):
            v.append(f"unallocated[{k}]: must be an object with a case id")
            continue
        cid = row["case"]
        seen[cid] += 1
        if cid not in world.cases:
            v.append(f"unallocated[{k}]: unknown case {cid!r}")
        else:
            assignment.setdefault(cid, None)
            stated_reason[cid] = row.get("reason")
        if "detail" in row and not isinstance(row["detail"], str):
            v.append(f"unallocated[{k}].detail: must be a string")
    for cid in world.order:
        if seen[cid] == 0:
            v.append(f"case {cid}: missing (neither assigned nor unallocated)")
        elif seen[cid] > 1:
            v.append(f"case {cid}: listed {seen[cid]} times")
    for cid in world.order:
        assignment.setdefault(cid, None)
    # A case both assigned and unallocated counts as assigned for the checks below.
    assignment = {cid: assignment[cid] for cid in world.order}

    # Hard constraints 1-6.
    load: Counter[str] = Counter()
    count: Counter[str] = Counter()
    new: Counter[str] = Counter()
    for cid, wid in assignment.items():
        c = world.cases[cid]
        if c.get("pinned") and wid != c.get("current_worker"):
            v.append(f"case {cid}: pinned to {c.get('current_worker')!r} but given {wid!r}")
        if wid is None:
            continue
        w = world.workers[wid]
        if not world.eligible(w, c):
            v.append(f"case {cid}: worker {wid} is not eligible for it")
        load[wid] += world.points(c)  # type: ignore[assignment]
        count[wid] += 1
        new[wid] += c.get("current_worker") != wid
    for wid, w in world.workers.items():
        cap = float(w["capacity"])
        if load[wid] > cap * (1 + 1e-9):
            v.append(f"worker {wid}: {load[wid]:.12g} points over capacity {cap:.12g}")
        if w.get("max_cases") is not None and count[wid] > w["max_cases"]:
            v.append(f"worker {wid}: {count[wid]} cases over max_cases {w['max_cases']}")
        if w.get("max_new_cases") is not None and new[wid] > w["max_new_cases"]:
            v.append(f"worker {wid}: {new[wid]} new cases over max_new_cases {w['max_new_cases']}")
    for gid, members in world.groups.items():
        holders = {assignment[m] for m in members}
        if len(holders) > 1:
            shown = ", ".join(f"{m}->{assignment[m]}" for m in members)
            v.append(f"group {gid}: siblings split ({shown})")

    # Objective.
    objective = _objective(world, assignment)
    stated = result.get("objective")
    if isinstance(stated, Mapping):
        for term in ("total", *_TERMS):
            value = stated.get(term)
            if not _is_number(value):
                v.append(f"objective.{term}: missing or not a finite number")
            elif not _close(float(value), objective[term]):
                v.append(f"objective.{term}: reported {value}, recomputed {objective[term]}")
    elif "objective" in result:
        v.append("objective: must be an object")

    # Bound and gap.
    total = stated.get("total") if isinstance(stated, Mapping) else None
    total = float(total) if _is_number(total) else objective["total"]
    bound, gap = result.get("bound"), result.get("gap")
    if bound is None:
        if gap is not None:
            v.append("gap: must be null when bound is null")
        if status == "optimal":
            v.append("status: 'optimal' needs a proven bound")
    elif not _is_number(bound):
        v.append(f"bound: must be a number or null, got {_shown(bound)}")
    else:
        if float(bound) > total + 1e-6 * max(1.0, abs(total)):
            v.append(f"bound: {bound} is above the objective {total}")
        want = (total - float(bound)) / max(abs(total), 1.0)
        if not _is_number(gap):
            v.append(f"gap: must be a number when bound is given, got {_shown(gap)}")
        elif abs(float(gap) - want) > 1e-6:
            v.append(f"gap: reported {gap}, recomputed {want}")
        if status == "optimal" and want > 1e-6:
            v.append(f"status: 'optimal' but the gap is {want:.3g}")

    # Reasons.
    reasons = _reasons(world, assignment)
    for cid, said in stated_reason.items():
        if assignment.get(cid) is not None:
            continue
        if said not in _REASONS:
            v.append(f"case {cid}: reason {said!r} is not one of {', '.join(_REASONS)}")
        elif said != reasons.get(cid):
            v.append(f"case {cid}: reason {said!r} is wrong; it is {reasons.get(cid)!r}")

    # Worker rows.
    rows = result.get("workers")
    if isinstance(rows, list):
        by_id: dict[str, Any] = {}
        for k, row in enumerate(rows):
            wid = row.get("worker") if isinstance(row, Mapping) else None
            if not isinstance(wid, str) or wid not in world.workers:
                v.append(f"workers[{k}]: unknown worker {wid!r}")
            elif wid in by_id:
                v.append(f"workers: {wid} listed twice")
            else:
                by_id[wid] = row
        for wid, w in world.workers.items():
            row = by_id.get(wid)
            if row is None:
                v.append(f"workers: no row for {wid}")
                continue
            cap = float(w["capacity"])
            util = load[wid] / cap if cap > 0 else None
            cases = row.get("cases")
            if isinstance(cases, bool) or cases != count[wid]:
                v.append(
                    f"workers[{wid}].cases: reported {row.get('cases')}, recomputed {count[wid]}"
                )
            if not _is_number(row.get("points")) or not _close(row["points"], load[wid]):
                v.append(
                    f"workers[{wid}].points: reported {row.get('points')}, recomputed {load[wid]}"
                )
            if not _is_number(row.get("capacity")) or not _close(row["capacity"], cap):
                v.append(f"workers[{wid}].capacity: reported {row.get('capacity')}, instance {cap}")
            got = row.get("utilisation")
            if util is None:
                if got is not None:
                    v.append(f"workers[{wid}].utilisation: must be null for capacity 0")
            elif not _is_number(got) or (abs(got - util) > 5e-4 and not _close(got, util)):
                v.append(f"workers[{wid}].utilisation: reported {got}, recomputed {util}")
    elif "workers" in result:
        v.append("workers: must be a list")
    return CheckReport(tuple(v), objective, reasons)
