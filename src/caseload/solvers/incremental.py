r"""Incremental re-optimisation: place new items, move few held ones.

Day to day, most items already sit with an agent (their *incumbent*) and a
few are new. Re-solving everything would take seconds and could move many
held items for small gains; instead the held items are fixed where they are,
except those of a few agents that could take the costliest new items, and
the exact model of that restricted problem is solved with a global budget on
moves:

.. math::

    \sum_p m_p x_p + \sum_i m_i \Bigl(1 - \sum_{p \ni i} x_p\Bigr)
    \le \sum_i f_i + M

where :math:`m_p` is the number of held units an assignment moves away from
their holder (:math:`m_i` if the item is left out), :math:`f_i` the moves
item :math:`i` cannot avoid (its holder is no longer allowed), and :math:`M`
the caller's ``max_moves``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem, SideLimit
from caseload.solvers.base import Progress, SolverOutput
from caseload.solvers.cpsat import solve_cpsat
from caseload.solvers.greedy import greedy
from caseload.solvers.lns import STEP_WORK, _Index, sub_problem

#: Agents freed per step when making room for a left-out item.
ROOM_AGENTS = 8
#: Wall-clock seconds per such step.
ROOM_SECONDS = 0.1


@dataclass(frozen=True, eq=False)
class Moves:
    """How many held units each choice moves.

    Attributes
    ----------
    pair
        ``float64[P]``: units of the item moved away from their holder if pair
        ``p`` is chosen.
    skip
        ``float64[I]``: units moved if the item is left out (all it holds).
    """

    pair: np.ndarray
    skip: np.ndarray


def forced_moves(problem: AssignmentProblem, moves: Moves) -> np.ndarray:
    """``float64[I]``: moves each item makes whatever it is given (its holder is gone)."""
    start = problem.item_start
    best = moves.skip.copy()
    has = np.diff(start) > 0
    if has.any():
        least = np.minimum.reduceat(moves.pair, start[:-1][has])
        best[has] = np.minimum(best[has], least)
    return best


def reoptimise(
    problem: AssignmentProblem,
    moves: Moves,
    *,
    max_moves: int,
    deadline: float,
    seed: int = 0,
    threads: int = 2,
    stop: Callable[[], bool] | None = None,
    work: float | None = None,
    progress: Callable[[Progress], bool | None] | None = None,
) -> SolverOutput:
    """Place new items and move at most ``max_moves`` held ones beyond the forced.

    First one exact solve with every held item kept (the new ones, and those
    of agents now over their limits, are placed); then, if moves are allowed,
    large-neighbourhood steps that make room for the costliest items still
    left out, each within the moves budget left.

    Parameters
    ----------
    problem
        The core problem; ``problem.incumbent`` says who holds each item.
    moves
        Units moved per pair and per skip.
    max_moves
        Moves allowed beyond the forced ones: those of items whose holder is
        no longer allowed, and of any item of an agent whose limits no longer
        hold what they hold (a capacity cut). Should the budget still be
        unreachable, it is lifted and ``statistics["max_moves_lifted"]`` says so.
    deadline
        ``perf_counter`` time by which to return.
    seed, threads, stop
        As for :func:`caseload.solvers.cpsat.solve_cpsat`.
    work
        A deterministic budget (CP-SAT's deterministic time; each step of the
        room-making search is charged :data:`~caseload.solvers.lns.STEP_WORK`
        more): with one thread, the same budget gives the same answer on any
        machine, the deadline only guarding.
    progress
        Called with the first solve's allocation and each better one after
        it (no bound: see below); ``True`` ends the steps.

    Returns
    -------
    SolverOutput
        A feasible assignment of the whole problem, without a bound: a bound of
        the restricted problems would not bound the whole one.
    """
    began = time.perf_counter()
    p = problem
    held = p.incumbent if p.incumbent is not None else np.full(p.num_items, UNASSIGNED)
    # Agents whose limits no longer hold what they hold must shed items: free
    # all of theirs (the solver picks which go, the continuity cost keeps it
    # to what is needed), outside the budget.
    over = np.any(p.loads(p.pairs_of(held)) > p.limits * (1 + 1e-9), axis=0)
    shed = (held != UNASSIGNED) & over[np.maximum(held, 0)]
    moves = Moves(
        pair=np.where(shed[p.pair_item], 0.0, moves.pair), skip=np.where(shed, 0.0, moves.skip)
    )
    forced = forced_moves(p, moves)
    limit = float(forced.sum()) + max_moves
    free = (held == UNASSIGNED) | shed
    # Everyone keeps what they can keep; the greedy places the rest. This
    # makes only the forced moves, so it respects any budget.
    start = greedy(p, np.where(free, UNASSIGNED, held))
    stats: dict[str, object] = {
        "strategy": "incremental",
        "forced_moves": int(forced.sum()),
        "max_moves": max_moves,
        "free_items": int(free.sum()),
    }
    # The first solve is usually proved in a fraction of a second; half the
    # time at most, to leave the moves their turn.
    first_deadline = deadline if max_moves == 0 else (time.perf_counter() + deadline) / 2
    if work is not None:
        first_deadline = deadline  # the work budget splits the time; the clock only guards
    first_work = None if work is None else 0.5 * work
    best, status = _restricted(
        p, free, start, moves, limit, first_deadline, seed, threads, stop, first_work
    )
    stats["first_status"] = status

    def report(value: float) -> bool:
        """Tell ``progress`` of an allocation worth ``value``; whether it asks to stop."""
        return progress is not None and bool(
            progress(Progress(time.perf_counter() - began, value, None))
        )

    halted = report(p.objective(best))
    if SideLimit(moves.pair, moves.skip, limit).value(p, best) > limit + 1e-9:
        stats["max_moves_lifted"] = True
    if max_moves > 0 and not halted:
        room_work = None if work is None else 0.5 * work
        best, steps = _make_room(
            p, best, moves, limit, deadline, seed, threads, stop, room_work, report
        )
        stats["room_steps"] = steps
    if work is not None and time.perf_counter() >= deadline - 0.05:
        # The clock, not the work budget, ended the search: it may not repeat.
        stats["wall_limited"] = 1
    return SolverOutput(best, None, "none", statistics=stats)


def _make_room(
    p: AssignmentProblem,
    start: np.ndarray,
    moves: Moves,
    limit: float,
    deadline: float,
    seed: int,
    threads: int,
    stop: Callable[[], bool] | None,
    work: float | None = None,
    improved: Callable[[float], bool] = lambda value: False,
) -> tuple[np.ndarray, int]:
    """Large-neighbourhood steps that may move held items, within the budget.

    Each step takes a costly left-out item (statutory first, by chance
    weighted by its cost), frees the items of a few agents able to take it,
    and solves that exactly with the moves budget left over by the rest.
    ``improved`` hears each better objective; ``True`` ends the steps.
    """
    rng = np.random.default_rng(seed)
    index = _Index(p)
    keys = p.pair_item * p.num_agents + p.pair_agent
    options = np.diff(p.item_start) > 0
    best, value = start, p.objective(start)
    steps = 0
    work_left = math.inf if work is None else work
    while deadline - time.perf_counter() > 0.05 and not (stop is not None and stop()):
        left_out = np.flatnonzero((best == UNASSIGNED) & options)
        if left_out.size == 0 or work_left <= 0:
            break
        weight = p.skip_cost[left_out]
        if not weight.sum() > 0:
            break  # nothing left out costs anything: no room worth making
        item = int(rng.choice(left_out, p=weight / weight.sum()))
        cand = p.pair_agent[p.item_start[item] : p.item_start[item + 1]]
        agents = np.sort(rng.choice(cand, size=min(ROOM_AGENTS, cand.size), replace=False))
        sub, items, agents, hint = sub_problem(
            p, best, agents, index, 4 * ROOM_AGENTS, rng, include=np.array([item])
        )
        global_pairs = np.searchsorted(
            keys, items[sub.pair_item] * p.num_agents + agents[sub.pair_agent]
        )
        outside = np.ones(p.num_items, dtype=bool)
        outside[items] = False
        used = SideLimit(moves.pair, moves.skip, 0.0).value(
            p, np.where(outside, best, UNASSIGNED)
        ) - float(moves.skip[items].sum())
        side = SideLimit(moves.pair[global_pairs], moves.skip[items], limit - used)
        out = solve_cpsat(
            sub,
            # With a work budget the work limit ends each step; the clock only guards.
            time_limit=max(
                0.02,
                deadline - time.perf_counter()
                if work is not None
                else min(ROOM_SECONDS, deadline - time.perf_counter()),
            ),
            seed=int(rng.integers(2**31 - 1)),
            threads=threads,
            hint=hint,
            side=side,
            stop=stop,
            reference=max(1.0, abs(sub.objective(hint))),
            work_limit=None if work is None else min(0.5 * ROOM_SECONDS, work_left),
        )
        steps += 1
        work_left -= float(out.statistics.get("deterministic_time", 0.0)) + STEP_WORK
        if out.assignment is None:
            continue
        candidate = best.copy()
        candidate[items] = np.where(
            out.assignment == UNASSIGNED, UNASSIGNED, agents[np.maximum(out.assignment, 0)]
        )
        better = p.objective(candidate)
        within = SideLimit(moves.pair, moves.skip, limit).value(p, candidate) <= limit + 1e-9
        if better < value - 1e-9 * max(1.0, abs(value)) and within and not p.violations(candidate):
            best, value = candidate, better
            if improved(value):
                break
    return best, steps


def _restricted(
    p: AssignmentProblem,
    free: np.ndarray,
    start: np.ndarray,
    moves: Moves,
    limit: float,
    deadline: float,
    seed: int,
    threads: int,
    stop: Callable[[], bool] | None,
    work: float | None = None,
) -> tuple[np.ndarray, str]:
    """Solve with the items not ``free`` fixed where ``start`` has them.

    Returns the better of CP-SAT's answer and ``start`` (feasible for ``p``),
    and CP-SAT's status (``"lifted"`` when the moves budget had to go).
    """
    fixed = ~free & (start != UNASSIGNED)
    mask = ~fixed[p.pair_item] | (p.pair_agent == start[p.pair_item])
    # A fixed item keeps its one pair and must stay there.
    sub = p.restricted(mask, skip_cost=np.where(fixed, np.inf, p.skip_cost))
    side = SideLimit(moves.pair[mask], moves.skip, limit)
    start_ok = not sub.violations(start) and side.value(sub, start) <= limit + 1e-9

    def run(side: SideLimit | None) -> SolverOutput:
        return solve_cpsat(
            sub,
            time_limit=max(0.05, deadline - time.perf_counter()),
            seed=seed,
            threads=threads,
            hint=start if start_ok else None,
            side=side,
            stop=stop,
            # Set, so that no second solve re-proves a rounded peak: speed matters here.
            reference=max(1.0, abs(sub.objective(start))) if start_ok else None,
            work_limit=work,
        )

    out = run(side)
    status = str(out.statistics.get("cp_sat_status"))
    if out.infeasible:
        # The budget cannot be met (limits cut below the held load): lift it
        # rather than return nothing.
        status = "lifted"
        out = run(None)
    found = out.assignment
    if found is None or p.violations(found) or p.objective(found) > p.objective(start):
        return start, status
    return found, status
