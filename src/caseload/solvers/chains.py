r"""Ejection chains: place an item by pushing another along, across any agents.

A chain takes an item in hand (a left-out one, or one lifted from its agent),
gives it to an agent in place of an item that agent holds, takes that item in
hand, and so on, until the last item in hand is left out or fits, without
displacing anything, with an agent that has room. On an overloaded authority this
is how a costly left-out case gets in: a worker at their case or new-case
limit takes it, one of their cases goes to a colleague who can hold it, whose
cheapest case to lose is left out instead.

The search is label-correcting over an improvement graph whose nodes are items
and whose arcs are the pairs: arc :math:`(i \to j)` gives item :math:`i` the
agent :math:`a_j` of item :math:`j` in :math:`j`'s place, allowed when
:math:`a_j`'s loads stay within its limits once :math:`j` leaves and
:math:`i` arrives, at cost :math:`c_{i a_j} - c_{j a_j}`. A chain starts at
:math:`-s_i` (a left-out item) or :math:`-c_{i a_i}` (an item lifted from its
agent) and ends at :math:`s_j` (left out) or :math:`c_{j b}` (an agent
:math:`b` with room). Labels are kept per chain length, so every arc is
priced from the current loads alone and the search is a few numpy passes over
the arcs; a chain that uses one agent twice, or whose loads interact, is caught
when it is judged exactly on the whole problem, and only chains that lower the
objective are applied. Large neighbourhoods re-solve a few agents exactly;
chains reach across all of them one item at a time, and each finds what the
other misses.
"""

from __future__ import annotations

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem

#: Longest chain: items moved, besides the first.
DEPTH = 5
#: Most arcs in the improvement graph searched at once.
MAX_ARCS = 4_000_000

Chain = list[tuple[int, int]]


def improving_chains(
    p: AssignmentProblem,
    assignment: np.ndarray,
    loads: np.ndarray,
    *,
    frozen_agents: np.ndarray | None = None,
    frozen_items: np.ndarray | None = None,
    pairs: np.ndarray | None = None,
    max_arcs: int = MAX_ARCS,
    rng: np.random.Generator | None = None,
) -> list[Chain]:
    """Chains whose estimated change is negative, most negative first.

    Each chain is a list of ``(item, new agent)`` moves (``-1`` to leave out).
    ``frozen_agents`` and ``frozen_items`` (masks) are neither changed nor
    used; ``pairs`` (a mask) limits the arcs to those pairs. The estimate
    prices each arc at the current loads, so a chain still has to be judged on
    the whole problem.

    Should the improvement graph have more than ``max_arcs`` arcs (a county),
    the search is over agents drawn at random (with ``rng``) up to that many
    arcs, the others frozen.
    """
    if p.num_pairs == 0:
        return []
    n_items = p.num_items
    held_items = np.flatnonzero(assignment != UNASSIGNED)
    chosen = np.full(n_items, -1, dtype=np.int64)
    chosen[held_items] = p.pairs_of(assignment)
    held_cost = np.where(chosen >= 0, p.pair_cost[np.maximum(chosen, 0)], 0.0)
    room = p.limits * (1 + 1e-9) - loads

    # Work on the candidate pairs' positions: on a county the view holds a
    # fifth of 1.5 million pairs, and whole-problem masks were most of a round.
    candidate = None if pairs is None else np.flatnonzero(pairs)
    cand_item = p.pair_item if candidate is None else p.pair_item[candidate]
    cand_agent = p.pair_agent if candidate is None else p.pair_agent[candidate]
    # An item's own pair moves nothing.
    moves = assignment[cand_item] != cand_agent

    def open_to(frozen: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The pairs usable (positions) and the items movable with ``frozen``
        agents left alone."""
        movable = np.ones(n_items, dtype=bool)
        if frozen_items is not None:
            movable &= ~frozen_items
        usable = moves.copy()
        if frozen is not None:
            usable &= ~frozen[cand_agent]
            movable &= ~frozen[np.maximum(assignment, 0)] | (assignment == UNASSIGNED)
        usable &= movable[cand_item]
        return np.flatnonzero(usable) if candidate is None else candidate[usable], movable

    def items_held(movable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Items each agent holds, ready to be pushed along, and where each agent's start."""
        ejectable = held_items[movable[held_items]]
        ejectable = ejectable[np.argsort(assignment[ejectable], kind="stable")]
        return ejectable, np.searchsorted(assignment[ejectable], np.arange(p.num_agents + 1))

    usable, movable = open_to(frozen_agents)
    ejectable, agent_start = items_held(movable)
    arc_pair = usable
    holding = agent_start[1:] - agent_start[:-1]
    counts = holding[p.pair_agent[arc_pair]]
    if int(counts.sum()) > max_arcs:
        per_agent = holding * np.bincount(p.pair_agent[arc_pair], minlength=p.num_agents)
        order = (rng or np.random.default_rng(0)).permutation(p.num_agents)
        kept = order[np.cumsum(per_agent[order]) <= max_arcs]
        frozen = np.ones(p.num_agents, dtype=bool)
        frozen[kept] = False
        if frozen_agents is not None:
            frozen |= frozen_agents
        usable, movable = open_to(frozen)
        ejectable, agent_start = items_held(movable)
        arc_pair = usable
        counts = (agent_start[1:] - agent_start[:-1])[p.pair_agent[arc_pair]]
    arc_pair = np.repeat(arc_pair, counts)
    firsts = agent_start[p.pair_agent[arc_pair]]
    offsets = np.arange(arc_pair.size) - np.repeat(np.cumsum(counts) - counts, counts)
    arc_to = ejectable[firsts + offsets]
    arc_from = p.pair_item[arc_pair]
    # The room each held item leaves at its agent, once per item rather than
    # per arc: a million arcs on a city authority, where this was most of a round.
    held = np.maximum(chosen, 0)
    freed = room[:, p.pair_agent[held]] + p.pair_usage[:, held]
    fits = arc_from != arc_to
    for r in range(p.pair_usage.shape[0]):
        fits &= p.pair_usage[r].take(arc_pair) <= freed[r].take(arc_to)
    arc_pair, arc_to, arc_from = arc_pair[fits], arc_to[fits], arc_from[fits]
    arc_cost = p.pair_cost[arc_pair] - held_cost[arc_to]

    # How each chain can end: the item in hand left out, or placed where there is room.
    end = np.where(movable, p.skip_cost, np.inf)
    end_agent = np.full(n_items, UNASSIGNED, dtype=np.int64)
    if candidate is None:
        # Most pairs are usable: one pass over all of them beats gathering them.
        fits_empty = np.all(p.pair_usage <= room[:, p.pair_agent], axis=0)[usable]
    else:
        fits_empty = np.all(p.pair_usage[:, usable] <= room[:, p.pair_agent[usable]], axis=0)
    placeable = usable[fits_empty]
    if placeable.size:
        # Each item's cheapest placeable pair, the first of equals; pairs are
        # sorted by item, so runs stand in for a sort.
        placed_item, cost = p.pair_item[placeable], p.pair_cost[placeable]
        starts = np.flatnonzero(np.r_[True, placed_item[1:] != placed_item[:-1]])
        run = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, placed_item.size]))
        cheapest = np.flatnonzero(cost <= np.minimum.reduceat(cost, starts)[run])
        first = cheapest[np.r_[True, run[cheapest[1:]] != run[cheapest[:-1]]]]
        items, cost = placed_item[first], cost[first]
        cheaper = cost < end[items]
        end[items[cheaper]] = cost[cheaper]
        end_agent[items[cheaper]] = p.pair_agent[placeable[first[cheaper]]]

    label = np.where(assignment == UNASSIGNED, -p.skip_cost, -held_cost)
    label[~movable | ~np.isfinite(label)] = np.inf
    labels = [label]
    came_by = [np.full(n_items, -1, dtype=np.int64)]
    for _ in range(DEPTH):
        value = labels[-1][arc_from] + arc_cost
        best = np.full(n_items, np.inf)
        np.minimum.at(best, arc_to, value)
        winner = np.flatnonzero(np.isfinite(value) & (value <= best[arc_to]))
        pred = np.full(n_items, -1, dtype=np.int64)
        pred[arc_to[winner]] = arc_pair[winner]
        labels.append(best)
        came_by.append(pred)

    found: list[tuple[float, int, int]] = []
    for length, label in enumerate(labels):
        total = label + end
        for item in np.flatnonzero(total < -1e-9).tolist():
            found.append((float(total[item]), length, item))
    found.sort()
    chains: list[Chain] = []
    for _, length, item in found:
        chain = [(item, int(end_agent[item]))]
        for step in range(length, 0, -1):
            pair = int(came_by[step][item])
            item = int(p.pair_item[pair])
            chain.append((item, int(p.pair_agent[pair])))
        chains.append(chain[::-1])
    return chains
