"""The LP relaxation of the core problem, solved by GLOP (OR-Tools' simplex).

Used for two things: its prices give the Lagrangian bound (recomputed exactly
by :class:`~caseload.solvers.lagrangian.CapacityLagrangian`, so the bound is
valid whatever tolerance the simplex worked to), and its integral part is a
good start for local search.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.linear_solver.python import model_builder_helper as mbh

from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.solvers.base import watch


@dataclass(frozen=True, eq=False)
class LPSolution:
    """Primal values per pair and prices for the Lagrangian bound.

    ``mu[r, a]`` prices agent ``a``'s limit on resource ``r``, ``nu[a]`` its
    share of the peak and ``lam[i]`` item ``i``'s row; all are non-negative
    except ``lam`` of items that cannot be left out. ``optimal`` says whether GLOP
    finished; prices from an unfinished run still give a valid (weaker) bound.
    ``by_group`` marks a relaxation solved group by group (see
    :func:`solve_lp_by_group`): its ``x`` is a sound start, but its prices are
    each group's own and bound the whole problem poorly.
    """

    x: np.ndarray
    mu: np.ndarray
    nu: np.ndarray
    lam: np.ndarray
    optimal: bool
    by_group: bool = False

    def integral_part(self, problem: AssignmentProblem) -> np.ndarray:
        """Agent per item where the LP assigns the item wholly (-1 elsewhere)."""
        whole = self.x > 1 - 1e-6
        out = np.full(problem.num_items, UNASSIGNED, dtype=np.int64)
        out[problem.pair_item[whole]] = problem.pair_agent[whole]
        return out


def solve_lp(
    problem: AssignmentProblem,
    *,
    deadline: float,
    stop: Callable[[], bool] | None = None,
    work: float | None = None,
) -> LPSolution | None:
    """Solve the LP relaxation by ``deadline`` (a ``perf_counter`` time, building included).

    ``work`` limits GLOP in its deterministic time, which makes the answer
    the same on any machine (the deadline then only guards). Returns ``None``
    if GLOP returns nothing usable, or if ``stop`` (polled while building and
    solving) cancels it.
    """
    cancelled = stop if stop is not None else (lambda: False)
    p = problem
    n = p.num_pairs
    must = ~np.isfinite(p.skip_cost)
    skip = np.where(must, 0.0, p.skip_cost)
    counted = p.peak_capacity > 0
    beta = p.peak_weight if counted.any() else 0.0

    h = mbh.ModelBuilderHelper()
    add_vars: Any = h.add_var_array_with_bounds  # its stubs misname numpy's types
    add_vars(np.zeros(n + 1), np.concatenate([np.ones(n), [1e4]]), np.zeros(n + 1, dtype=bool), "")
    h.set_var_lower_bound(n, max(0.0, p.peak_floor))
    h.set_objective_coefficients(
        list(range(n + 1)), np.concatenate([p.pair_cost - skip[p.pair_item], [beta]]).tolist()
    )
    variables = [mbh.Variable(h, k) for k in range(n + 1)]

    def row(pairs: np.ndarray, coefs: np.ndarray, lower: float, upper: float) -> int:
        c = h.add_linear_constraint()
        h.set_constraint_lower_bound(c, lower)
        h.set_constraint_upper_bound(c, upper)
        h.add_terms_to_constraint(c, [variables[k] for k in pairs], coefs.tolist())
        return c

    start = p.item_start
    item_rows: list[tuple[int, int]] = []
    for i in range(p.num_items):
        if i % 512 == 0 and (time.perf_counter() > deadline or cancelled()):
            return None  # building alone took the time: no LP today
        lo, hi = int(start[i]), int(start[i + 1])
        if hi > lo:
            lower = 1.0 if must[i] else -math.inf
            item_rows.append((i, row(np.arange(lo, hi), np.ones(hi - lo), lower, 1.0)))
    by_agent = np.argsort(p.pair_agent, kind="stable")
    agent_start = np.searchsorted(p.pair_agent[by_agent], np.arange(p.num_agents + 1))
    limit_rows: list[tuple[int, int, int]] = []
    for r in range(p.pair_usage.shape[0]):
        for a in range(p.num_agents):
            sel = by_agent[agent_start[a] : agent_start[a + 1]]
            limit = float(p.limits[r, a])
            if math.isfinite(limit) and p.pair_usage[r, sel].sum() > limit:
                limit_rows.append((r, a, row(sel, p.pair_usage[r, sel], -math.inf, limit)))
    peak_rows: list[tuple[int, int]] = []
    if beta:
        for a in np.flatnonzero(counted).tolist():
            sel = by_agent[agent_start[a] : agent_start[a + 1]]
            coefs = np.concatenate([100.0 * p.pair_usage[0, sel] / p.peak_capacity[a], [-1.0]])
            peak_rows.append((a, row(np.concatenate([sel, [n]]), coefs, -math.inf, 0.0)))

    if time.perf_counter() > deadline or cancelled():
        return None
    solver = mbh.ModelSolverHelper("glop")
    solver.set_time_limit_in_seconds(max(0.05, deadline - time.perf_counter()))
    if work is not None:
        solver.set_solver_specific_parameters(f"max_deterministic_time: {max(work, 0.01):.6f}")
    watcher = watch(cancelled, solver.interrupt_solve) if stop is not None else None
    try:
        solver.solve(h)
    finally:
        if watcher is not None:
            watcher.set()
    if cancelled() or not solver.has_response():
        return None
    duals = np.asarray(solver.dual_values()) if h.num_constraints() else np.zeros(0)
    if duals.size != h.num_constraints() or not np.all(np.isfinite(duals)):
        return None
    mu = np.zeros_like(p.limits)
    for r, a, c in limit_rows:
        mu[r, a] = max(0.0, -duals[c])
    lam = np.zeros(p.num_items)
    for i, c in item_rows:
        lam[i] = -duals[c] if must[i] else max(0.0, -duals[c])
    nu = np.zeros(p.num_agents)
    for a, c in peak_rows:
        nu[a] = max(0.0, -duals[c])
    if nu.sum() > beta > 0:
        nu *= beta / nu.sum()
    x = np.zeros(n)
    if solver.has_solution():
        x = np.asarray(solver.variable_values())[:n]
    return LPSolution(
        x=x, mu=mu, nu=nu, lam=lam, optimal=solver.status() == mbh.SolveStatus.OPTIMAL
    )


def group_home(problem: AssignmentProblem) -> np.ndarray:
    """Each item's group: that of the agent of its cheapest pair (-1 for an item with none).

    Ties go to the lowest-numbered agent, so the answer is the same every run.
    """
    p = problem
    assert p.agent_group is not None
    home = np.full(p.num_items, -1, dtype=np.int64)
    if p.num_pairs == 0:
        return home
    has = np.diff(p.item_start) > 0
    order = np.lexsort((p.pair_agent, p.pair_cost, p.pair_item))
    # The first pair of each item in that order is its cheapest.
    first = order[p.item_start[:-1][has]]
    home[has] = p.agent_group[p.pair_agent[first]]
    return home


def solve_lp_by_group(
    problem: AssignmentProblem,
    *,
    deadline: float,
    stop: Callable[[], bool] | None = None,
    home: np.ndarray | None = None,
    threads: int = 1,
) -> LPSolution | None:
    """The LP relaxation solved one agent group at a time, for problems too large for one.

    Each item joins the group of its cheapest pair (:func:`group_home`) and
    keeps only its pairs with that group's agents. The groups then share no
    item and no agent, so their LPs are independent and their solutions
    together are a solution of the whole relaxation restricted to those pairs:
    a start for rounding. On a county (1.5 million pairs in 16 localities)
    this is 16 LPs of 17,000-43,000 pairs, 7 s on one thread, where the whole
    LP takes minutes. Items whose own group lacks room (a busy locality) stay
    partly out here; the search finds them places across groups.

    ``home`` is :func:`group_home`'s answer, if the caller has it already.
    With ``threads`` > 1 that many groups are solved at once (GLOP releases
    the GIL: 3.9 s instead of 7.1 s on the county with two). Returns ``None``
    when the deadline passes or ``stop`` cancels first.
    """
    p = problem
    assert p.agent_group is not None
    group = p.agent_group
    if home is None:
        home = group_home(p)
    x = np.zeros(p.num_pairs)
    mu = np.zeros_like(p.limits)
    nu = np.zeros(p.num_agents)
    lam = np.zeros(p.num_items)
    optimal = True
    inside = group[p.pair_agent] == home[p.pair_item]
    groups = [g for g in np.unique(group).tolist() if np.any(home == g)]

    def solve_group(g: int) -> tuple[np.ndarray, LPSolution | None]:
        keep = inside & (group[p.pair_agent] == g)
        return keep, solve_lp(p.restricted(keep), deadline=deadline, stop=stop)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        solved = list(pool.map(solve_group, groups))
    for g, (keep, part) in zip(groups, solved, strict=True):
        if part is None:
            return None
        agents, items = group == g, home == g
        x[keep] = part.x
        mu[:, agents] = part.mu[:, agents]
        nu[agents] = part.nu[agents]
        lam[items] = part.lam[items]
        optimal &= part.optimal
    if nu.sum() > p.peak_weight > 0:
        nu *= p.peak_weight / nu.sum()
    return LPSolution(x=x, mu=mu, nu=nu, lam=lam, optimal=optimal, by_group=True)
