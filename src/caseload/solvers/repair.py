"""Repair: give left-out urgent items a place by moving as few other urgent items as possible.

Urgent items (statutory cases, pinned ones) are far costlier to leave out than
anything else, so any allocation that leaves one out while a rearrangement of
the urgent items alone could hold it is far from optimal. The repair solves,
exactly, the problem of the urgent items only (every other item is taken out,
so its room counts as free), in which

- the urgent items placed now must stay placed, each at its current agent
  unless it lies in the neighbourhood below;
- the urgent items left out may be placed (leaving one out costs :data:`_OUT`);
- each neighbourhood item placed away from its current agent costs 1.

The neighbourhood starts with the left-out items; one *hop* adds the urgent
items held by every agent able to take a neighbourhood item. One hop is tried
first (a few hundredths of a second on a city authority), then two. The
non-urgent items displaced are then left out, cheapest first, and the greedy
offers them (and every other left-out item) the room that is left.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.solvers.cpsat import solve_cpsat
from caseload.solvers.greedy import greedy, make_room
from caseload.solvers.lns import restrict

#: Cost of leaving an urgent item out in the repair model: more than moving
#: every other urgent item.
_OUT = 1e6

#: Seconds per pair to build a hop's model and for CP-SAT to load it: on a
#: county given 5 s, a second hop of 396,275 pairs took 2.0 s (0.4 s building,
#: 1.6 s in CP-SAT) with a limit of 0.17 s. Larger hops are not tried.
HOP_SECONDS_PER_PAIR = 5e-6


def place_urgent(
    problem: AssignmentProblem,
    assignment: np.ndarray,
    urgent: np.ndarray,
    *,
    seconds: float,
    seed: int = 0,
    threads: int = 1,
    work: float | None = None,
    max_hops: int = 2,
) -> np.ndarray:
    """Place as many left-out ``urgent`` items (a mask) as a rearrangement allows.

    Returns a feasible assignment with no more urgent items left out than
    ``assignment`` (which must be feasible); ``assignment`` itself when
    nothing could be placed. ``work`` (CP-SAT deterministic time per hop)
    makes it reproducible on one thread; ``seconds`` then only guards.
    """
    p = problem
    end = time.perf_counter() + seconds
    options = np.diff(p.item_start) > 0
    current = assignment.copy()
    # Building a hop's model takes up to a third of a second on a city
    # authority: called with no time (or, on one thread, no work, which keeps
    # runs repeatable), it would only overrun the limit.
    out_of_time = seconds <= 0 if work is None else work <= 0
    for hops in range(1, max_hops + 1):
        left_out = urgent & (current == UNASSIGNED) & options
        if not left_out.any() or out_of_time:
            break
        free = left_out.copy()
        for _ in range(hops):
            agents = np.zeros(p.num_agents, dtype=bool)
            agents[p.pair_agent[free[p.pair_item]]] = True
            free |= urgent & (current != UNASSIGNED) & agents[np.maximum(current, 0)]
        keep = free[p.pair_item] | (p.pair_agent == current[p.pair_item])
        # CP-SAT loads a model whatever its time limit: a hop that could not
        # load in the time given would only overrun it (deterministically
        # judged on one thread, by the time given rather than the clock).
        given = seconds if work is not None else min(seconds, end - time.perf_counter())
        if int(keep.sum()) * HOP_SECONDS_PER_PAIR > given:
            break
        items = np.flatnonzero(urgent & options)
        sub, hint = restrict(p.restricted(keep), items, current)
        placed_now = hint != UNASSIGNED
        sub = replace(
            sub,
            pair_cost=np.where(sub.pair_agent == hint[sub.pair_item], 0.0, 1.0),
            skip_cost=np.where(placed_now, np.inf, _OUT),
            peak_weight=0.0,
            peak_floor=0.0,
        )
        out = solve_cpsat(
            sub,
            # A hop that finishes early leaves its time to the next.
            time_limit=max(0.05, (end - time.perf_counter()) / (max_hops - hops + 1)),
            seed=seed,
            threads=threads,
            hint=hint,
            work_limit=work,
        )
        if out.assignment is None:
            continue
        moved = current.copy()
        moved[items] = out.assignment
        if np.sum(left_out & (moved == UNASSIGNED)) >= np.sum(left_out):
            continue
        # Non-urgent items where the urgent ones now go make way, cheapest first.
        moved = make_room(p, moved, np.zeros(0, dtype=np.int64), urgent & (moved != UNASSIGNED))
        current = greedy(p, moved)
    if p.violations(current):
        return assignment
    return current
