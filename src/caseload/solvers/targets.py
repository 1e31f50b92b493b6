r"""Optimality proofs for generalised assignment problems, one target at a time.

For a problem whose costs are integers, whose items must all be placed and whose
agents have one integer capacity (a GAP), every allocation :math:`x` splits
around the whole-items Lagrangian of :mod:`caseload.solvers.knapsack` at item
prices :math:`\pi`:

.. math::

    c(x) = L(\pi) + \sum_a \bigl(K_a - \textstyle\sum_{p \in P_a} \pi'_p x_p\bigr),
    \qquad \pi'_p = \pi_{i(p)} - c_p,

where :math:`K_a` is agent :math:`a`'s best knapsack at those prices and each
bracket, agent :math:`a`'s *loss*, is at least zero. An allocation of cost at
most a target :math:`T` therefore takes, at every agent, a set of items whose
loss is at most :math:`\delta = T - L(\pi)`. When the bound is tight,
:math:`\delta` is a few units and only a few thousand such sets exist. So,
target by target from :math:`\lceil L \rceil`:

1. prices: a volume algorithm (subgradient steps along an average of the
   knapsacks' choices, the centre moving only on improvement) from the LP's
   prices raises :math:`L` by a few units where plain subgradient steps stall;
2. fixing: for each pair, the least loss of its agent with the pair taken and
   with it left out (exact, from prefix and suffix knapsack tables): pairs
   whose use costs more than :math:`\delta` are dropped, pairs whose absence
   does are forced, and their items leave every other agent;
3. columns: every set of the remaining pairs with loss at most :math:`\delta`,
   per agent, by depth-first search bounded by a suffix knapsack table;
4. master: CP-SAT chooses one set per agent covering every item once, with the
   losses summing to at most :math:`\delta`. None exists: no allocation costs
   :math:`T` or less, so the bound rises to :math:`T + 1`, and the next target
   follows. One exists: it costs :math:`T` and is optimal.

When a target has too many sets to list, the master is tried on the cheapest
few of each agent, which can find an allocation but not rule one out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.solvers.base import watch
from caseload.solvers.knapsack import KnapsackLagrangian

#: Evaluations of the bound in the volume algorithm (1.8 ms each on c10200,
#: every agent's knapsack solved at once). From the LP's prices, c10200:
#: 2,795.4 -> 2,803.75-2,803.79 after 200; the Lagrangian's best (the
#: Dantzig-Wolfe master's LP) is 2,803.95.
VOLUME_STEPS = 200
#: Largest number of loss-bounded sets listed for one target. c10200 from
#: 2,803.79 needs 126 / 2,820 / 28,724 sets for targets 2,804 / 2,805 / 2,806;
#: CP-SAT rules out the first two in 0.02 s and 0.9 s. From a weaker 2,803.66
#: the last has 71,295 sets, which CP-SAT did not settle in 30 s.
MAX_COLUMNS = 20_000
#: Sets per agent given to the master when a target has too many to list:
#: c10200 at 2,806 (all 71,295 sets unsettled in 30 s), seeds 0/1, the
#: cheapest 200 / 300 / 500 / 700 per agent: found in 0.3-0.5 / 0.5 / 1.8 /
#: not in 30 s.
FIND_COLUMNS = 200
#: CP-SAT's deterministic time for the master on the cheapest sets when the
#: whole list follows (b10200 at its optimum 2,827: the whole 7,656 sets took
#: about 4 s, the cheapest 1,807 well under one). Where the list is too long to
#: make, the cheapest sets are the last try and get the proof's time left:
#: c10200 at 2,806 is found there after 0.5-2.3 units on two threads (twelve
#: seeds; 0.4-1.2 s on a machine 1.8 times slower than the one these budgets
#: were first set on), 1.66 on one. The 1 s it had before failed the proof at
#: half that machine's speed, however long the solve's limit.
FIND_WORK = 2.0
#: Largest knapsack table (pairs x units of capacity) of one agent: a GAP with
#: capacities in the millions is left to CP-SAT. The OR-Library's largest is
#: 135,072 cells (a05200: 201 rows, capacity 671).
MAX_TABLE_CELLS = 4_000_000
#: Most pairs per job paying at the LP's prices for the targets to be tried.
PAYING_PER_JOB = 8
#: Float slack on losses: sets are kept, and targets ruled out, only beyond it.
_TOL = 1e-6


def applies(problem: AssignmentProblem) -> bool:
    """Whether ``problem`` is a GAP: integer costs and capacity, all items placed, no peak."""
    p = problem
    if p.num_pairs == 0 or p.pair_usage.shape[0] != 1 or np.any(np.isfinite(p.skip_cost)):
        return False
    if p.peak_weight and np.any(p.peak_capacity > 0):
        return False
    if not np.all(np.isfinite(p.limits)):
        return False
    ints = [p.pair_cost, p.pair_usage[0], p.limits[0]]
    if not all(bool(np.all(v == np.round(v))) for v in ints):
        return False
    if np.any(p.pair_usage < 0) or np.any(p.limits < 0):
        return False
    # The exact tables have a row per pair and a column per unit of capacity.
    rows = np.bincount(p.pair_agent, minlength=p.num_agents) + 1
    cells = rows * (p.limits[0] + 1)
    return bool(cells.max() <= MAX_TABLE_CELLS)


def promising(problem: AssignmentProblem, lam: np.ndarray) -> bool:
    """Whether few enough pairs pay at prices ``lam`` for the sets to stay few.

    At the LP's prices the OR-Library's problems have at most 5.5 paying
    pairs per job (c10200 2.9); the tight types D and E of the literature
    13-37 (d20x200 18.5, e20x200 13.5, d40x400 36): their agents have too
    many near-optimal knapsacks to list (d20x200: more than 20,000 sets
    within 1.7 of its bound, at its second target), and the volume steps only
    take time from the search (d20x200 / e20x200 at 15 s, seeds 0-2: 12,284 /
    22,697 with the targets, 12,250 / 22,674 without).
    """
    reduced = problem.pair_cost + lam[problem.pair_item]
    return int(np.sum(reduced < 0)) <= PAYING_PER_JOB * problem.num_items


@dataclass(frozen=True)
class TargetProof:
    """What the targets proved: a bound, and an optimal allocation if one was found.

    ``bound`` is a valid lower bound on every allocation's objective; when
    ``assignment`` is given its objective equals ``bound`` (it is optimal).
    """

    bound: float
    assignment: np.ndarray | None
    statistics: dict[str, Any] = field(default_factory=dict)


def volume(
    knap: KnapsackLagrangian,
    lam: np.ndarray,
    *,
    steps: int = VOLUME_STEPS,
    deadline: float = math.inf,
    stop: Callable[[], bool] = lambda: False,
) -> tuple[float, np.ndarray]:
    r"""The best bound found from prices ``lam`` by the volume algorithm, and its prices.

    Each step moves from the centre :math:`\lambda_c` (the best prices so far)
    along :math:`g = \bar t - 1`, where :math:`\bar t` is a running average
    (weight 0.1 on the newest) of how often the knapsacks took each item:

    .. math::

        \lambda = \lambda_c + f\,\frac{A - L(\lambda_c)}{\lVert g \rVert^2}\, g,
        \qquad A = \max\bigl(L_0 + 0.01\,s,\; L(\lambda_c) + 0.002\,s\bigr),

    with :math:`s = \max(1, |L_0|)`. The factor :math:`f` (from 0.1) grows by
    10% when a step improves the centre (at most 2) and shrinks by 5% when not.
    Averaging the choices damps the zig-zag of plain subgradient steps, which
    stall 2 units lower on c10200. ``lam`` is in
    :class:`~caseload.solvers.knapsack.KnapsackLagrangian`'s convention; every
    item must be placed (the prices are free).
    """
    nu = np.zeros(knap.p.num_agents)
    centre = lam.astype(float).copy()
    best, taken = knap.evaluate(centre, nu, deadline, stop)
    if not math.isfinite(best):
        return best, centre
    scale = max(1.0, abs(best))
    first = best
    average = taken.copy()
    factor = 0.1
    for _ in range(steps):
        g = average - 1.0
        norm = float(g @ g)
        if norm < 1e-12 or time.perf_counter() > deadline or stop():
            break
        aim = max(first + 0.01 * scale, best + 0.002 * scale)
        trial = centre + factor * (aim - best) / norm * g
        value, taken = knap.evaluate(trial, nu, deadline, stop)
        if not math.isfinite(value):
            break
        average = 0.1 * taken + 0.9 * average
        if value > best:
            centre, best = trial, value
            factor = min(2.0, factor * 1.1)
        else:
            factor = max(1e-4, factor * 0.95)
    return best, centre


@dataclass
class _Agent:
    """One agent's pairs (most profitable first), weights, capacity and exact losses."""

    pairs: np.ndarray
    profit: np.ndarray
    weight: np.ndarray
    capacity: int
    best: float  # K_a
    loss_in: np.ndarray  # least loss with the pair taken
    loss_out: np.ndarray  # least loss with the pair left out


def _table(weight: np.ndarray, profit: np.ndarray, capacity: int) -> np.ndarray:
    """Knapsack tables: row k is the best profit of the first k items at each capacity."""
    out = np.zeros((weight.size + 1, capacity + 1))
    for k, (w, v) in enumerate(zip(weight.tolist(), profit.tolist(), strict=True)):
        out[k + 1] = out[k]
        if v > 0 and w <= capacity:
            np.maximum(out[k + 1, w:], out[k, : capacity + 1 - w] + v, out=out[k + 1, w:])
    return out


def _agent(problem: AssignmentProblem, pairs: np.ndarray, profit: np.ndarray, a: int) -> _Agent:
    """Agent ``a``'s exact losses with each pair taken or left out."""
    weight = np.round(problem.pair_usage[0, pairs]).astype(np.int64)
    capacity = int(problem.limits[0, a])
    order = np.lexsort((pairs, -profit[pairs]))
    pairs, weight, value = pairs[order], weight[order], profit[pairs][order]
    pre = _table(weight, value, capacity)
    suf = _table(weight[::-1], value[::-1], capacity)[::-1]  # suf[k]: items k.. on
    best = float(pre[-1, capacity])
    loss_in = np.full(pairs.size, math.inf)
    loss_out = np.zeros(pairs.size)
    for k in range(pairs.size):
        # Best with item k out, at every capacity c: max_j pre[k][j] + suf[k+1][c - j].
        left, right = pre[k], suf[k + 1]
        room = capacity - int(weight[k])
        if room >= 0:
            with_k = value[k] + float(np.max(left[: room + 1] + right[room::-1]))
            loss_in[k] = best - with_k
        if value[k] > 0:
            loss_out[k] = best - float(np.max(left + right[::-1]))
    return _Agent(pairs, value, weight, capacity, best, loss_in, loss_out)


def _columns(
    agent: _Agent, keep: np.ndarray, delta: float, limit: int, deadline: float = math.inf
) -> list[tuple[np.ndarray, float]] | None:
    """Every set of the kept pairs that fits within loss ``delta``.

    ``None`` past ``limit`` sets or the ``deadline`` (a ``perf_counter`` time).
    """
    idx = np.flatnonzero(keep)
    weight = agent.weight[idx].tolist()
    value = agent.profit[idx].tolist()
    cap = agent.capacity
    suf = _table(agent.weight[idx][::-1], agent.profit[idx][::-1], cap)[::-1].tolist()
    least = agent.best - delta - _TOL
    n = len(idx)
    out: list[tuple[np.ndarray, float]] = []
    # Depth-first, taking each pair before leaving it out; the suffix table
    # bounds what the pairs still to decide can add.
    stack: list[tuple[int, int, float, tuple[int, ...]]] = [(0, cap, 0.0, ())]
    popped = 0
    while stack:
        popped += 1
        if popped % 4096 == 0 and time.perf_counter() > deadline:
            return None
        k, room, gain, chosen = stack.pop()
        if gain + suf[k][room] < least:
            continue
        if k == n:
            out.append((agent.pairs[idx[list(chosen)]], agent.best - gain))
            if len(out) > limit:
                return None
            continue
        stack.append((k + 1, room, gain, chosen))
        if weight[k] <= room:
            stack.append((k + 1, room - weight[k], gain + value[k], (*chosen, k)))
    return out


def _master(
    problem: AssignmentProblem,
    columns: list[list[tuple[np.ndarray, float]]],
    delta: float,
    *,
    time_limit: float,
    threads: int,
    seed: int,
    work: float | None,
    stop: Callable[[], bool],
) -> tuple[str, np.ndarray | None, float]:
    """One set per agent, every item once, losses within ``delta``.

    Returns the verdict (``found``, ``none`` or ``unknown``), the allocation
    found, and CP-SAT's deterministic time.
    """
    p = problem
    model = cp_model.CpModel()
    scale = 1e6 / max(1.0, delta)
    by_item: list[list[Any]] = [[] for _ in range(p.num_items)]
    chosen: list[tuple[Any, np.ndarray]] = []
    coefs = []
    for sets in columns:
        ys = []
        for pairs, loss in sets:
            y = model.new_bool_var("")
            ys.append(y)
            chosen.append((y, pairs))
            for i in p.pair_item[pairs].tolist():
                by_item[i].append(y)
            # Rounded down: the master may only be looser than the truth.
            coefs.append(max(0, math.floor(loss * scale)))
        model.add_exactly_one(ys)
    for ys in by_item:
        model.add_exactly_one(ys)
    terms = [y for y, _ in chosen]
    model.add(cp_model.LinearExpr.weighted_sum(terms, coefs) <= math.floor((delta + _TOL) * scale))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, time_limit)
    solver.parameters.num_workers = max(1, threads)
    solver.parameters.random_seed = seed % 2**31  # CP-SAT's is 32-bit; seeds are any int >= 0
    if work is not None:
        solver.parameters.max_deterministic_time = max(0.001, work)
    watcher = watch(stop, solver.stop_search)
    try:
        status = solver.solve(model)
    finally:
        watcher.set()
    work_done = solver.deterministic_time
    if status == cp_model.INFEASIBLE:
        return "none", None, work_done
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return "unknown", None, work_done
    out = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
    for y, pairs in chosen:
        if solver.boolean_value(y):
            out[p.pair_item[pairs]] = p.pair_agent[pairs]
    return "found", out, work_done


def _size(columns: list[list[tuple[np.ndarray, float]]]) -> int:
    return sum(len(sets) for sets in columns)


def _listed(
    agents: list[_Agent], keeps: list[np.ndarray], delta: float, deadline: float
) -> list[list[tuple[np.ndarray, float]]] | None:
    """Every agent's sets within ``delta``; ``None`` if more than :data:`MAX_COLUMNS` in all."""
    columns = []
    total = 0
    for agent, keep in zip(agents, keeps, strict=True):
        sets = _columns(agent, keep, delta, MAX_COLUMNS - total, deadline)
        if sets is None:
            return None
        total += len(sets)
        columns.append(sets)
    return columns


def _cheapest(
    agents: list[_Agent], keeps: list[np.ndarray], delta: float, per_agent: int, deadline: float
) -> list[list[tuple[np.ndarray, float]]] | None:
    """The cheapest sets of each agent within ``delta``, at most ``per_agent`` (a heuristic)."""
    columns = []
    for agent, keep in zip(agents, keeps, strict=True):
        reach = delta
        for _ in range(8):
            sets = _columns(agent, keep, reach, 4 * per_agent, deadline)
            if sets is not None:
                break
            reach /= 2
        else:
            return None
        sets.sort(key=lambda s: s[1])
        columns.append(sets[:per_agent])
    return columns


def prove(
    problem: AssignmentProblem,
    lam: np.ndarray,
    best: float,
    *,
    deadline: float,
    threads: int = 2,
    seed: int = 0,
    work: float | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> TargetProof:
    """Raise the bound of a GAP (see :func:`applies`) target by target, up to ``best``.

    Parameters
    ----------
    problem
        A problem for which :func:`applies` holds.
    lam
        Item prices to start from, as the LP returns them.
    best
        The objective of the best allocation known: the targets stop below it.
    deadline
        A ``perf_counter`` time; the proof stops there with what it has.
    threads, seed
        CP-SAT's, for the masters.
    work
        CP-SAT's deterministic time for all the masters together (one-thread
        runs repeat exactly); then the deadline only guards.

    Returns
    -------
    TargetProof
        The bound proved (``best`` itself when nothing cheaper exists), and an
        optimal allocation if the masters found one below ``best``.
    """
    p = problem
    knap = KnapsackLagrangian(p)
    value, lam = volume(knap, lam, deadline=deadline, stop=stop)
    stats: dict[str, Any] = {"volume_bound": value, "targets_ruled_out": 0, "work": 0.0}
    if not math.isfinite(value):
        return TargetProof(-math.inf, None, stats)
    profit = -(knap.base_cost + lam[p.pair_item])
    agents = [
        _agent(p, knap.by_agent[knap.agent_start[a] : knap.agent_start[a + 1]], profit, a)
        for a in range(p.num_agents)
    ]
    bound = value
    target = math.ceil(value - _TOL)
    spent = 0.0
    while target < best - 0.5 and time.perf_counter() < deadline and not stop():
        delta = target - value
        keeps = _kept(p, agents, delta)
        columns = None if keeps is None else _listed(agents, keeps, delta, deadline)
        tries: list[tuple[list[list[tuple[np.ndarray, float]]], bool, float]] = []
        if keeps is not None and (columns is None or _size(columns) > FIND_COLUMNS * len(agents)):
            # Looking among each agent's cheapest sets first finds an allocation
            # far sooner than the whole list, when one exists; from the list
            # itself where it was made, rather than listing again.
            cheapest = (
                _cheapest(agents, keeps, delta, FIND_COLUMNS, deadline)
                if columns is None
                else [sorted(sets, key=lambda s: s[1])[:FIND_COLUMNS] for sets in columns]
            )
            if cheapest is not None:
                tries.append((cheapest, False, FIND_WORK if columns is not None else math.inf))
        if columns is not None:
            tries.append((columns, True, math.inf))
        ruled_out = keeps is None
        for listed, exact, limit in tries:
            budget = min(limit, math.inf if work is None else work - spent)
            verdict, found, work_done = _master(
                p,
                listed,
                delta,
                time_limit=deadline - time.perf_counter(),
                threads=threads,
                seed=seed,
                work=None if math.isinf(budget) else max(0.001, budget),
                stop=stop,
            )
            spent += work_done
            stats["work"] = spent
            stats["last_target"] = {"target": target, "sets": _size(listed), "exact": exact}
            if (
                found is not None
                and not p.violations(found)
                and p.objective(found) <= target + _TOL
            ):
                # Nothing below ``target`` exists, so this is optimal.
                return TargetProof(max(bound, p.objective(found)), found, stats)
            ruled_out = verdict == "none" and exact
        if not ruled_out:
            break
        # No allocation costs ``target`` or less; costs are integers.
        bound, target = target + 1, target + 1
        stats["targets_ruled_out"] += 1
    if target >= best - 0.5:
        bound = max(bound, best)
    return TargetProof(bound, None, stats)


def _kept(
    problem: AssignmentProblem, agents: list[_Agent], delta: float
) -> list[np.ndarray] | None:
    """Per agent, the pairs an allocation within ``delta`` may use (``None``: there is none).

    A pair is dropped if taking it alone costs its agent more than ``delta``,
    or if its item is forced onto another agent (its absence there would).
    """
    p = problem
    keeps = [a.loss_in <= delta + _TOL for a in agents]
    forced = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
    for j, agent in enumerate(agents):
        must = agent.loss_out > delta + _TOL
        items = p.pair_item[agent.pairs[must]]
        if np.any((forced[items] != UNASSIGNED) & (forced[items] != j)):
            return None  # an item forced onto two agents
        forced[items] = j
    covered = np.zeros(p.num_items, dtype=bool)
    for j, agent in enumerate(agents):
        items = p.pair_item[agent.pairs]
        keeps[j] &= (forced[items] == UNASSIGNED) | (forced[items] == j)
        covered[items[keeps[j]]] = True
    return keeps if bool(np.all(covered)) else None
