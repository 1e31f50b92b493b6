"""Compile a social-care :class:`Instance` into the core :class:`AssignmentProblem`.

A sibling group must go to one worker or stay unallocated as a whole, so each
group becomes one *item* (a single case is a group of one). A worker may take
an item when eligible for every member. Per (item, worker) pair:

- cost :math:`= w_t \\sum_{c} \\mathrm{visits}(c)\\, t(\\mathrm{base}, \\mathrm{loc}(c))
  + w_c\\, |\\{c : \\mathrm{cw}(c) \\in W \\setminus \\{w\\}\\}|`
- resources: points, cases, and new cases (members whose current worker is
  someone else);

and leaving the item out costs
:math:`w_s \\cdot \\#\\mathrm{statutory} + w_u \\sum \\mathrm{priority} + w_c \\cdot
\\#\\{c : \\mathrm{cw}(c) \\in W\\}`. A group holding a pinned case has one pair, its
pinned worker, and cannot be left out. Everything is built with numpy, never a
Python loop over pairs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from caseload.data import Instance
from caseload.eligibility import eligibility_matrix
from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.travel import travel_matrix


@dataclass(frozen=True, eq=False)
class Compiled:
    """A core problem together with the map back to cases and workers.

    Attributes
    ----------
    instance
        The source instance.
    problem
        The core problem.
    item_of_case
        ``int64[C]``: the item (sibling group) of each case.
    minutes
        Travel matrix between localities (see :func:`caseload.travel.travel_matrix`).
    eligible
        ``bool[C, W]``: per-case eligibility.
    points_scale
        The problem's points (usage and limits) are the instance's times this:
        1, or a power of two below it for points near the largest floats.
    """

    instance: Instance
    problem: AssignmentProblem
    item_of_case: np.ndarray
    minutes: np.ndarray
    eligible: np.ndarray
    points_scale: float = 1.0

    def case_assignment(self, assignment: np.ndarray) -> dict[str, str | None]:
        """Case id -> worker id (or ``None``) from an agent per item."""
        agent = assignment[self.item_of_case]
        workers = self.instance.workers
        return {
            c.id: (workers[a].id if a != UNASSIGNED else None)
            for c, a in zip(self.instance.cases, agent.tolist(), strict=True)
        }

    def item_assignment(self, allocation: Mapping[str, str | None]) -> np.ndarray:
        """Agent per item from case id -> worker id (the inverse of :meth:`case_assignment`).

        An item goes where all its cases go. A sibling group split between
        workers is left out (``-1``); if any item sits with a worker not allowed
        for it, every item is left out (the allocation is no usable start).
        """
        index = {w.id: j for j, w in enumerate(self.instance.workers)}
        out = np.full(self.problem.num_items, UNASSIGNED, dtype=np.int64)
        mixed = np.zeros(self.problem.num_items, dtype=bool)
        seen = np.zeros(self.problem.num_items, dtype=bool)
        for case, item in zip(self.instance.cases, self.item_of_case.tolist(), strict=True):
            agent = index.get(allocation.get(case.id) or "", UNASSIGNED)
            if seen[item] and out[item] != agent:
                mixed[item] = True
            out[item], seen[item] = agent, True
        out[mixed] = UNASSIGNED
        try:
            self.problem.pairs_of(out)
        except ValueError:
            # Some item sits with a worker not allowed for it: no warm start.
            return np.full(self.problem.num_items, UNASSIGNED, dtype=np.int64)
        return out


#: Points and capacities above this are scaled down by a power of two.
_LARGEST_POINTS = 2.0**40


def compile_instance(instance: Instance) -> Compiled:
    """Build the core problem of ``instance``."""
    cases, workers = instance.cases, instance.workers
    n_cases, n_workers = len(cases), len(workers)
    weights = instance.weights
    minutes = travel_matrix(instance)
    eligible = eligibility_matrix(instance, minutes)

    group_item: dict[str, int] = {}
    item_of_case = np.empty(n_cases, dtype=np.int64)
    n_items = 0
    for i, c in enumerate(cases):
        if c.group is None:
            item_of_case[i] = n_items
            n_items += 1
        else:
            if c.group not in group_item:
                group_item[c.group] = n_items
                n_items += 1
            item_of_case[i] = group_item[c.group]
    order = np.argsort(item_of_case, kind="stable")
    starts = np.searchsorted(item_of_case[order], np.arange(n_items))

    loc = {x.id: i for i, x in enumerate(instance.localities)}
    widx = {w.id: j for j, w in enumerate(workers)}
    base = np.array([loc[w.base] for w in workers], dtype=np.int64)
    where = np.array([loc[c.location] for c in cases], dtype=np.int64)
    visits = np.array([instance.visits(c) for c in cases], dtype=float)
    points = np.array([instance.points(c) for c in cases], dtype=float)
    capacity = np.array([w.capacity for w in workers], dtype=float)
    # Points and capacities near the largest floats (valid, if absurd) would
    # overflow when summed: both are scaled by one power of two, exactly, which
    # changes no fit and no utilisation.
    largest = max(float(points.max(initial=0.0)), float(capacity.max(initial=0.0)))
    shrink = 1.0
    if largest > _LARGEST_POINTS:
        shrink = 2.0 ** -math.ceil(math.log2(largest / _LARGEST_POINTS))
        points, capacity = points * shrink, capacity * shrink
    statutory = np.array([instance.statutory(c) for c in cases], dtype=float)
    priority = np.array([c.priority for c in cases], dtype=float)
    current = np.array([widx.get(c.current_worker or "", -1) for c in cases], dtype=np.int64)
    pinned = np.array([c.pinned for c in cases], dtype=bool)

    def per_item(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values[order], starts, axis=0) if n_items else values[:0]

    item_ok = (
        np.logical_and.reduceat(eligible[order], starts, axis=0)
        if n_items
        else np.zeros((0, n_workers), dtype=bool)
    )
    # A pinned group has exactly one allowed worker; validation made sure it is eligible.
    pinned_items = item_of_case[pinned]
    item_ok[pinned_items] = False
    item_ok[pinned_items, current[pinned]] = True
    pair_item, pair_agent = np.nonzero(item_ok)

    # Travel summed over members, evaluated only at allowed pairs.
    t = minutes[base][:, where]  # [worker, case]
    member_case = order
    member_item = item_of_case[order]
    travel = np.zeros(pair_item.size)
    pair_start = np.searchsorted(pair_item, np.arange(n_items + 1))
    counts = np.diff(pair_start)
    # For each member m of item i, it contributes to every pair of item i.
    member_counts = counts[member_item]
    rep_case = np.repeat(member_case, member_counts)
    first = np.cumsum(member_counts) - member_counts
    rep_pair = np.repeat(pair_start[member_item] - first, member_counts) + np.arange(
        int(member_counts.sum())
    )
    contrib = visits[rep_case] * t[pair_agent[rep_pair], rep_case]
    np.add.at(travel, rep_pair, contrib)

    known = per_item((current >= 0).astype(float))
    size = per_item(np.ones(n_cases))
    keep = np.zeros(pair_item.size)  # members already with this worker
    has_current = current >= 0
    if has_current.any():
        keys = pair_item * n_workers + pair_agent
        want = item_of_case[has_current] * n_workers + current[has_current]
        pos = np.minimum(np.searchsorted(keys, want), max(keys.size - 1, 0))
        hit = keys[pos] == want if keys.size else np.zeros(want.size, dtype=bool)
        np.add.at(keep, pos[hit], 1.0)

    continuity = known[pair_item] - keep
    pair_cost = weights.travel * travel + weights.continuity * continuity
    usage = np.vstack([per_item(points)[pair_item], size[pair_item], size[pair_item] - keep])

    # float: a limit of 10^20 cases is valid, and no 64-bit integer holds it.
    max_cases = np.array(
        [np.inf if w.max_cases is None else w.max_cases for w in workers], dtype=float
    )
    max_new = np.array(
        [np.inf if w.max_new_cases is None else w.max_new_cases for w in workers], dtype=float
    )
    skip = (
        weights.statutory * per_item(statutory)
        + weights.unallocated * per_item(priority)
        + weights.continuity * known
    )
    skip[pinned_items] = np.inf

    # The worker holding a group today: its first member's current worker, where allowed.
    incumbent = np.full(n_items, UNASSIGNED, dtype=np.int64)
    firsts = order[starts] if n_items else order[:0]
    held = current[firsts]
    has = held >= 0
    if has.any() and pair_item.size:
        keys = pair_item * n_workers + pair_agent
        want = np.flatnonzero(has) * n_workers + held[has]
        pos = np.minimum(np.searchsorted(keys, want), keys.size - 1)
        ok = keys[pos] == want
        incumbent[np.flatnonzero(has)[ok]] = held[has][ok]

    problem = AssignmentProblem(
        num_items=n_items,
        num_agents=n_workers,
        pair_item=pair_item.astype(np.int64),
        pair_agent=pair_agent.astype(np.int64),
        pair_cost=pair_cost,
        pair_usage=usage.reshape(3, -1),
        limits=np.vstack([capacity, max_cases, max_new]).reshape(3, n_workers),
        skip_cost=skip,
        peak_weight=float(weights.balance),
        peak_capacity=capacity,
        resource_names=("points", "cases", "new cases"),
        incumbent=incumbent,
    )
    return Compiled(instance, problem, item_of_case, minutes, eligible, shrink)
