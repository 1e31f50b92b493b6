"""Manager-style greedy allocation: the floor in benchmarks and a warm start.

Items are taken in the order a duty manager would: those that cannot be left
out first (pinned groups), then by the cost of leaving them out (statutory
before red before amber before green), and among equals the ones with fewest
options first. Each goes to the allowed agent with room that adds least to the
objective, provided that is cheaper than leaving it out.
"""

from __future__ import annotations

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem


def greedy(problem: AssignmentProblem, start: np.ndarray | None = None) -> np.ndarray:
    """A feasible assignment built one item at a time.

    Parameters
    ----------
    problem
        The core problem.
    start
        Optional assignment to keep and extend (it must be feasible); items it
        leaves out are offered in greedy order.

    Returns
    -------
    numpy.ndarray
        Agent per item, ``-1`` for items left out. Items that must be assigned
        are placed first; if one finds no room it is left out, and the caller's
        feasibility check reports it.
    """
    p = problem
    start_idx = p.item_start
    assignment = np.full(p.num_items, UNASSIGNED, dtype=np.int64) if start is None else start.copy()
    loads = p.loads(p.pairs_of(assignment))
    limits = p.limits
    counted = p.peak_capacity > 0
    peak = p.peak(loads) if p.peak_weight else 0.0
    inv_cap = np.where(counted, 100.0 / np.where(counted, p.peak_capacity, 1.0), 0.0)

    options = np.diff(start_idx)
    must = ~np.isfinite(p.skip_cost)
    order = np.lexsort((options, -np.where(must, np.inf, p.skip_cost), ~must))
    for i in order:
        if assignment[i] != UNASSIGNED:
            continue
        lo, hi = start_idx[i], start_idx[i + 1]
        if lo == hi:
            continue
        agents = p.pair_agent[lo:hi]
        use = p.pair_usage[:, lo:hi]
        after = loads[:, agents] + use
        fits = np.all(after <= limits[:, agents] * (1 + 1e-9) + 1e-9, axis=0)
        if not fits.any():
            continue
        cost = p.pair_cost[lo:hi].copy()
        if p.peak_weight:
            util = after[0] * inv_cap[agents]
            cost += p.peak_weight * np.maximum(util - peak, 0.0)
        cost[~fits] = np.inf
        k = int(np.argmin(cost))
        if not must[i] and cost[k] >= p.skip_cost[i]:
            continue
        a = int(agents[k])
        assignment[i] = a
        loads[:, a] = after[:, k]
        if p.peak_weight and counted[a]:
            peak = max(peak, float(after[0, k] * inv_cap[a]))
    return assignment
