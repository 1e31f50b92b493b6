"""Why this worker and not another: explanations of single cases and of moves.

Every figure is a what-if on the returned allocation: what each objective
term would become if one case (with its sibling group, which must move with
it) went to another worker, or back to the worker it came from, and which
hard limit that would break. Explanations name cases and workers by id only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from caseload.data import TERMS, Instance
from caseload.eligibility import why_not_eligible
from caseload.errors import InvalidInstanceError, Problem
from caseload.result import Result
from caseload.travel import travel_matrix

_TERM_WORDS = {
    "statutory": "statutory cases unallocated",
    "unallocated": "priority points unallocated",
    "continuity": "children changing worker",
    "travel": "visit-minutes of travel a month",
    "balance": "percentage points of peak utilisation",
}


@dataclass(frozen=True, slots=True)
class Option:
    """One way to place a case (and its siblings): a worker, or unallocated.

    Attributes
    ----------
    worker
        The worker id, or ``None`` for leaving the group unallocated.
    change
        Change in each objective term, and in the weighted ``total``, against
        the returned allocation (negative is better).
    breaks
        The hard limits this would break on top of the worker's current cases
        (``capacity``, ``max_cases``, ``max_new_cases``); empty if it fits.
    """

    worker: str | None
    change: dict[str, float]
    breaks: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        """Whether the worker could take the group without breaking a limit."""
        return not self.breaks


@dataclass(frozen=True)
class CaseExplanation:
    """Why a case is where it is in an allocation.

    Attributes
    ----------
    case
        The case id.
    group
        The ids that move with it (its sibling group, itself included).
    worker
        Its worker in the allocation, or ``None``.
    current_worker
        Its worker before this allocation, if any.
    alternatives
        Every other option for the group, cheapest first: each eligible worker,
        and leaving it unallocated.
    ineligible
        How many workers each eligibility rule rules out.
    """

    case: str
    group: tuple[str, ...]
    worker: str | None
    current_worker: str | None
    alternatives: tuple[Option, ...]
    ineligible: dict[str, int] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The explanation in plain words."""
        who = "unallocated" if self.worker is None else f"allocated to {self.worker}"
        lines = [f"Case {self.case} is {who}."]
        if len(self.group) > 1:
            others = ", ".join(c for c in self.group if c != self.case)
            lines.append(f"It moves together with its siblings {others}.")
        if self.current_worker is not None:
            if self.current_worker == self.worker:
                lines.append(f"It stays with its current worker {self.current_worker}.")
            else:
                lines.append(f"Its current worker was {self.current_worker}.")
        fitting = [o for o in self.alternatives if o.fits]
        if not fitting:
            lines.append("No other option fits within every worker's limits.")
        else:
            best = fitting[0]
            target = "leaving it unallocated" if best.worker is None else f"{best.worker}"
            lines.append(
                f"The best alternative that fits, {target}, would " + _describe(best.change) + "."
            )
        full = Counter(b for o in self.alternatives for b in o.breaks)
        if full:
            parts = ", ".join(f"{n} by {k.replace('_', ' ')}" for k, n in sorted(full.items()))
            lines.append(f"Eligible workers without room: {parts}.")
        if self.ineligible:
            parts = "; ".join(f"{n} {why}" for why, n in self.ineligible.items())
            lines.append(f"Not eligible: {parts}.")
        return " ".join(lines)


@dataclass(frozen=True, slots=True)
class MoveExplanation:
    """Why a case no longer has its current worker.

    Attributes
    ----------
    case, from_worker, to_worker
        The move (``to_worker`` ``None``: left unallocated).
    forced
        The current worker has left or is no longer eligible.
    why
        The plain-words reason.
    undo
        What moving it back would change (``None`` when it cannot go back).
    """

    case: str
    from_worker: str
    to_worker: str | None
    forced: bool
    why: str
    undo: Option | None


def _describe(change: dict[str, float]) -> str:
    parts = []
    for term in TERMS:
        d = change.get(term, 0.0)
        if abs(d) > 1e-9:
            verb = "add" if d > 0 else "save"
            amount = f"{abs(d):,.1f}".rstrip("0").rstrip(".")
            parts.append(f"{verb} {amount} {_TERM_WORDS[term]}")
    total = change.get("total", 0.0)
    parts.append(f"{'raise' if total > 0 else 'lower'} the weighted objective by {abs(total):,.1f}")
    return ", ".join(parts)


class _Picture:
    """An allocation's loads and terms, for quick what-if changes of one group."""

    def __init__(self, instance: Instance, allocation: dict[str, str | None]) -> None:
        self.inst = instance
        self.minutes = travel_matrix(instance)
        self.loc = {x.id: i for i, x in enumerate(instance.localities)}
        self.widx = {w.id: j for j, w in enumerate(instance.workers)}
        self.cidx = {c.id: i for i, c in enumerate(instance.cases)}
        self.alloc = allocation
        n = len(instance.workers)
        self.points = np.zeros(n)
        self.count = np.zeros(n)
        self.new = np.zeros(n)
        for c in instance.cases:
            w = allocation.get(c.id)
            if w is not None:
                j = self.widx[w]
                self.points[j] += instance.points(c)
                self.count[j] += 1
                self.new[j] += c.current_worker != w
        self.capacity = np.array([w.capacity for w in instance.workers], dtype=float)
        self.groups: dict[str, list[str]] = {}
        for c in instance.cases:
            if c.group is not None:
                self.groups.setdefault(c.group, []).append(c.id)
        self.weights = instance.weights.as_dict()

    def group_of(self, case_id: str) -> list[str]:
        c = self.inst.cases[self.cidx[case_id]]
        return [case_id] if c.group is None else self.groups[c.group]

    def _case_terms(self, case_id: str, worker: str | None) -> dict[str, float]:
        c = self.inst.cases[self.cidx[case_id]]
        out = dict.fromkeys(TERMS, 0.0)
        if c.current_worker in self.widx and worker != c.current_worker:
            out["continuity"] = 1.0
        if worker is None:
            out["statutory"] = float(self.inst.statutory(c))
            out["unallocated"] = float(c.priority)
        else:
            base = self.inst.workers[self.widx[worker]].base
            t = float(self.minutes[self.loc[base], self.loc[c.location]])
            out["travel"] = self.inst.visits(c) * t
        return out

    def _peak(self, points: np.ndarray) -> float:
        counted = self.capacity > 0
        if not counted.any():
            return 0.0
        return float(np.max(100.0 * (points[counted] / self.capacity[counted])))

    def option(self, cases: list[str], worker: str | None) -> Option:
        """The change if ``cases`` (a whole group) went to ``worker``."""
        change = dict.fromkeys(TERMS, 0.0)
        points = self.points.copy()
        count, new = self.count.copy(), self.new.copy()
        for cid in cases:
            now = self.alloc.get(cid)
            before = self._case_terms(cid, now)
            after = self._case_terms(cid, worker)
            for t in TERMS:
                change[t] += after[t] - before[t]
            c = self.inst.cases[self.cidx[cid]]
            if now is not None:
                j = self.widx[now]
                points[j] -= self.inst.points(c)
                count[j] -= 1
                new[j] -= c.current_worker != now
            if worker is not None:
                j = self.widx[worker]
                points[j] += self.inst.points(c)
                count[j] += 1
                new[j] += c.current_worker != worker
        change["balance"] = self._peak(points) - self._peak(self.points)
        change["total"] = sum(self.weights[t] * change[t] for t in TERMS)
        breaks: list[str] = []
        if worker is not None:
            j = self.widx[worker]
            w = self.inst.workers[j]
            if points[j] > w.capacity * (1 + 1e-9):
                breaks.append("capacity")
            if w.max_cases is not None and count[j] > w.max_cases:
                breaks.append("max_cases")
            if w.max_new_cases is not None and new[j] > w.max_new_cases:
                breaks.append("max_new_cases")
        return Option(worker, change, tuple(breaks))


def _check_case(instance: Instance, case_id: str) -> None:
    if case_id not in {c.id for c in instance.cases}:
        raise InvalidInstanceError([Problem(f"cases[{case_id}]", "no such case")])


def explain_case(instance: Instance, result: Result, case_id: str) -> CaseExplanation:
    """Why ``case_id`` is with its worker (or unallocated), and what else would cost.

    Parameters
    ----------
    instance
        The instance that was solved.
    result
        Its result.
    case_id
        The case to explain.

    Raises
    ------
    InvalidInstanceError
        If ``case_id`` is not a case of the instance.
    """
    from caseload.eligibility import eligibility_matrix

    _check_case(instance, case_id)
    pic = _Picture(instance, result.allocation)
    group = pic.group_of(case_id)
    eligible = eligibility_matrix(instance, pic.minutes)
    rows = [pic.cidx[c] for c in group]
    ok = np.logical_and.reduce(eligible[rows], axis=0)
    worker = pic.alloc.get(case_id)
    options = [pic.option(group, w.id) for j, w in enumerate(instance.workers) if ok[j]]
    options = [o for o in options if o.worker != worker]
    if worker is not None:
        options.append(pic.option(group, None))
    options.sort(key=lambda o: (bool(o.breaks), o.change["total"]))
    case = instance.cases[pic.cidx[case_id]]
    return CaseExplanation(
        case=case_id,
        group=tuple(group),
        worker=worker,
        current_worker=case.current_worker,
        alternatives=tuple(options),
        ineligible=_ineligible(instance, pic, group, ok),
    )


def _ineligible(
    instance: Instance, pic: _Picture, group: list[str], ok: np.ndarray
) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for j, w in enumerate(instance.workers):
        if ok[j]:
            continue
        for cid in group:
            c = instance.cases[pic.cidx[cid]]
            t = float(pic.minutes[pic.loc[w.base], pic.loc[c.location]])
            why = why_not_eligible(instance, w, c, t)
            if why is not None:
                counts[why] += 1
                break
    return dict(counts.most_common())


def explain_moves(instance: Instance, result: Result) -> list[MoveExplanation]:
    """Every case that left its current worker in ``result``, with the reason.

    A forced move says why the case could not stay (the worker has left or is
    no longer eligible); any other move says what moving it back would cost,
    or which limit of the old worker that would break.
    """
    from caseload.eligibility import eligibility_matrix

    pic = _Picture(instance, result.allocation)
    eligible = eligibility_matrix(instance, pic.minutes)
    out = []
    for m in result.moves:
        group = pic.group_of(m.case)
        back: Option | None = None
        if m.from_worker not in pic.widx:
            why = f"{m.from_worker} is no longer a worker here"
        else:
            j = pic.widx[m.from_worker]
            if not all(eligible[pic.cidx[c], j] for c in group):
                why = f"{m.from_worker} is no longer eligible for it"
                if len(group) > 1:
                    why += " (with its siblings)"
            elif m.forced:
                why = f"{m.from_worker}'s limits no longer hold all the cases they held"
                back = pic.option(group, m.from_worker)
            else:
                back = pic.option(group, m.from_worker)
                if back.breaks:
                    limits = ", ".join(b.replace("_", " ") for b in back.breaks)
                    why = f"moving it back would break {m.from_worker}'s {limits}"
                else:
                    why = "moving it back would " + _describe(back.change)
        out.append(MoveExplanation(m.case, m.from_worker, m.to_worker, m.forced, why, back))
    return out
