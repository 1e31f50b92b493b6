"""Manager-style greedy allocation: the floor in benchmarks and a warm start.

Items are taken in the order a duty manager would: those that cannot be left
out first (pinned groups), then by the cost of leaving them out (statutory
before red before amber before green), and among equals the ones with fewest
options first. Each goes to the allowed agent with room that adds least to the
objective, provided that is cheaper than leaving it out.
"""

from __future__ import annotations

import math

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem


def greedy(
    problem: AssignmentProblem,
    start: np.ndarray | None = None,
    peak_target: float | None = None,
) -> np.ndarray:
    """A feasible assignment built one item at a time.

    Parameters
    ----------
    problem
        The core problem.
    start
        Optional assignment to keep and extend (it must be feasible); items it
        leaves out are offered in greedy order.
    peak_target
        The peak utilisation (percent) expected at the end; loading an agent
        up to it costs nothing in the peak term. By default, the utilisation
        if all demand were spread evenly (at most 100%). Without it the first
        items would spread out to keep an early, meaningless peak low, moving
        children from their current workers for nothing.

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
    if peak_target is None:
        peak_target = _even_peak(p)
    peak = max(p.peak(loads), peak_target) if p.peak_weight else 0.0
    inv_cap = np.where(counted, 100.0 / np.where(counted, p.peak_capacity, 1.0), 0.0)

    options = np.diff(start_idx)
    must = ~np.isfinite(p.skip_cost)
    order = np.lexsort((options, -np.where(must, np.inf, p.skip_cost), ~must))
    # Room that today's holders will want for their items later in the order:
    # an item prefers agents with room beyond it, so a newcomer does not push
    # a child off their current worker when another agent has space.
    reserved = np.zeros_like(loads)
    held = p.incumbent if p.incumbent is not None else np.full(p.num_items, UNASSIGNED)
    keeps = np.flatnonzero((held != UNASSIGNED) & (assignment == UNASSIGNED))
    keep_pair = np.zeros(p.num_items, dtype=np.int64)
    if keeps.size:
        keep_pair[keeps] = p.pairs_of(
            np.where(np.isin(np.arange(p.num_items), keeps), held, UNASSIGNED)
        )
        for r in range(reserved.shape[0]):
            np.add.at(reserved[r], held[keeps], p.pair_usage[r, keep_pair[keeps]])
    for i in order:
        if assignment[i] != UNASSIGNED:
            continue
        if held[i] != UNASSIGNED:
            reserved[:, held[i]] -= p.pair_usage[:, keep_pair[i]]
        lo, hi = start_idx[i], start_idx[i + 1]
        if lo == hi:
            continue
        agents = p.pair_agent[lo:hi]
        use = p.pair_usage[:, lo:hi]
        after = loads[:, agents] + use
        room = limits[:, agents] * (1 + 1e-9)
        fits = np.all(after <= room, axis=0)
        if not fits.any():
            continue
        cost = p.pair_cost[lo:hi].copy()
        if p.peak_weight:
            util = after[0] * inv_cap[agents]
            cost += p.peak_weight * np.maximum(util - peak, 0.0)
        cost[~fits] = np.inf
        spare = fits & np.all(after + reserved[:, agents] <= room, axis=0)
        if spare.any() and (must[i] or np.min(cost[spare]) < p.skip_cost[i]):
            cost[~spare] = np.inf
        k = int(np.argmin(cost))
        if not must[i] and cost[k] >= p.skip_cost[i]:
            continue
        a = int(agents[k])
        assignment[i] = a
        loads[:, a] = after[:, k]
        if p.peak_weight and counted[a]:
            peak = max(peak, float(after[0, k] * inv_cap[a]))
    return assignment


def _even_peak(p: AssignmentProblem) -> float:
    """Utilisation (percent, at most 100) if every item's lightest demand were spread evenly."""
    counted = p.peak_capacity > 0
    if not counted.any() or p.num_pairs == 0:
        return 0.0
    lightest = np.minimum.reduceat(p.pair_usage[0], p.item_start[:-1][np.diff(p.item_start) > 0])
    return float(min(100.0, 100.0 * lightest.sum() / p.peak_capacity[counted].sum()))


def make_room(
    problem: AssignmentProblem,
    assignment: np.ndarray,
    items: np.ndarray,
    keep: np.ndarray,
    preferred: np.ndarray | None = None,
) -> np.ndarray:
    """Place each of ``items`` by leaving out the cheapest items where it goes.

    For each item (in order) every allowed agent is tried: the item goes
    there, and that agent's items not marked ``keep`` are left out, cheapest
    to leave out first, until every limit holds. The agent whose room costs
    least (``preferred`` agents first among equals) wins; an item no agent can
    make room for stays out. Agents already over a limit are brought within it
    the same way first, so the result is feasible.
    """
    p = problem
    out = assignment.copy()
    keep = keep | ~np.isfinite(p.skip_cost)
    slack = p.limits * (1 + 1e-9)
    loads = p.loads(p.pairs_of(out))
    for agent in np.flatnonzero(np.any(loads > slack, axis=0)).tolist():
        _shed(p, out, loads, agent, keep, slack)
    # The items each agent could give up, cheapest to leave out first, kept up
    # to date rather than searched for per pair.
    order = np.argsort(p.skip_cost, kind="stable")
    movable = order[(out[order] != UNASSIGNED) & ~keep[order]]
    held: list[list[int]] = [[] for _ in range(p.num_agents)]
    for j in movable.tolist():
        held[int(out[j])].append(j)
    start = p.item_start
    for i in items.tolist():
        if out[i] != UNASSIGNED:
            continue  # already placed
        lo, hi = int(start[i]), int(start[i + 1])
        best: tuple[float, int, list[int]] | None = None
        agents = p.pair_agent[lo:hi]
        # Plain floats per candidate: numpy on three numbers costs more than the sums.
        needs = (loads[:, agents] + p.pair_usage[:, lo:hi]).T.tolist()
        rooms = slack[:, agents].T.tolist()
        skip_i = float(p.skip_cost[i])
        for k, agent, need, room in zip(range(lo, hi), agents.tolist(), needs, rooms, strict=True):
            dropped: list[int] = []
            cost = float(p.pair_cost[k])
            # Dearer than the best so far (or than leaving the item out) cannot win.
            cut = min(skip_i, best[0] if best is not None else math.inf)
            cut += 1e-6 * max(1.0, abs(cut)) if math.isfinite(cut) else 0.0
            for j in held[agent]:
                if all(n <= r for n, r in zip(need, room, strict=True)) or cost > cut:
                    break
                freed = p.pair_usage[:, _pair(p, start, j, agent)].tolist()
                need = [n - u for n, u in zip(need, freed, strict=True)]
                dropped.append(j)
                cost += float(p.skip_cost[j])
            if cost > cut or not all(n <= r for n, r in zip(need, room, strict=True)):
                continue
            if preferred is not None and preferred[i] == agent:
                cost -= 1e-9 * max(1.0, abs(cost))
            if best is None or cost < best[0]:
                best = (cost, k, dropped)
        if best is None or best[0] >= p.skip_cost[i]:
            continue
        _, k, dropped = best
        agent = int(p.pair_agent[k])
        for j in dropped:
            loads[:, agent] -= p.pair_usage[:, _pair(p, start, j, agent)]
            out[j] = UNASSIGNED
        del held[agent][: len(dropped)]
        out[i] = agent
        loads[:, agent] += p.pair_usage[:, k]
        keep[i] = True
    return out


def _pair(p: AssignmentProblem, start: np.ndarray, item: int, agent: int) -> int:
    lo, hi = start[item], start[item + 1]
    return int(lo + np.searchsorted(p.pair_agent[lo:hi], agent))


def _shed(
    p: AssignmentProblem,
    out: np.ndarray,
    loads: np.ndarray,
    agent: int,
    keep: np.ndarray,
    slack: np.ndarray,
) -> None:
    """Leave out an over-full agent's cheapest items (not ``keep``) until it fits."""
    start = p.item_start
    held = np.flatnonzero((out == agent) & ~keep)
    for j in held[np.argsort(p.skip_cost[held], kind="stable")].tolist():
        if np.all(loads[:, agent] <= slack[:, agent]):
            return
        loads[:, agent] -= p.pair_usage[:, _pair(p, start, j, agent)]
        out[j] = UNASSIGNED
