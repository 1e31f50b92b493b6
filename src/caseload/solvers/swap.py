"""One-for-one swaps: a left-out item takes the place of a cheaper-to-drop one.

On an overloaded authority the question that dominates the objective is which
cases stay unallocated. A swap places a left-out item with an agent by leaving
out one of the items that agent holds, when that is feasible on every limit and
lowers the objective (costs of the pair and of leaving out, both ways); the
dropped item is then offered to every other agent with room. Each candidate swap
is screened with numpy and confirmed with the exact objective, so a swap is
never taken that makes things worse.
"""

from __future__ import annotations

import time

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem


def swap_improve(problem: AssignmentProblem, assignment: np.ndarray, deadline: float) -> np.ndarray:
    """Apply improving swaps, costliest left-out items first, until none or the deadline."""
    p = problem
    best = assignment.copy()
    start = p.item_start
    pairs = p.pairs_of(best)
    chosen = np.full(p.num_items, -1, dtype=np.int64)
    chosen[np.flatnonzero(best != UNASSIGNED)] = pairs
    loads = p.loads(pairs)
    must = ~np.isfinite(p.skip_cost)
    value = p.objective(best)
    slack = p.limits * (1 + 1e-9)
    left_out = np.flatnonzero((best == UNASSIGNED) & (np.diff(start) > 0) & ~must)
    for i in left_out[np.argsort(-p.skip_cost[left_out], kind="stable")].tolist():
        if time.perf_counter() > deadline:
            break
        lo, hi = start[i], start[i + 1]
        agents = p.pair_agent[lo:hi]
        use = p.pair_usage[:, lo:hi]
        # Items held by those agents that could make way (not the unmovable ones).
        held = np.flatnonzero(np.isin(best, agents) & ~must)
        if held.size == 0:
            continue
        at = best[held]
        k = np.searchsorted(agents, at)  # which of i's pairs goes with each holder
        free = slack[:, at] - loads[:, at] + p.pair_usage[:, chosen[held]]
        fits = np.all(use[:, k] <= free, axis=0)
        gain = (
            p.skip_cost[i] - p.pair_cost[lo + k] - (p.skip_cost[held] - p.pair_cost[chosen[held]])
        )
        good = np.flatnonzero(fits & (gain > 1e-9 * max(1.0, abs(value))))
        for j in good[np.argsort(-gain[good])][:3].tolist():
            out_item, a = int(held[j]), int(at[j])
            candidate = best.copy()
            candidate[out_item] = UNASSIGNED
            candidate[i] = a
            new_value = p.objective(candidate)
            if new_value < value and not p.violations(candidate):
                best, value = candidate, new_value
                loads[:, a] += use[:, k[j]] - p.pair_usage[:, chosen[out_item]]
                chosen[i], chosen[out_item] = lo + k[j], -1
                break
    return best
