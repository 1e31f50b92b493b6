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
    """

    x: np.ndarray
    mu: np.ndarray
    nu: np.ndarray
    lam: np.ndarray
    optimal: bool

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
    start: np.ndarray | None = None,
) -> LPSolution | None:
    """Solve the LP relaxation by ``deadline`` (a ``perf_counter`` time, building included).

    ``work`` limits GLOP in its deterministic time, which makes the answer
    the same on any machine (the deadline then only guards). Returns ``None``
    if GLOP returns nothing usable, or if ``stop`` (polled while building and
    solving) cancels it.

    ``start`` (a feasible assignment, agent per item) is where the simplex
    begins instead of leaving every item out: the columns of its pairs are
    complemented (:math:`x = 1 - y`), so GLOP's all-slack basis is that
    assignment. The LP and its prices are the same; on medium-0 it takes
    3.6-3.9 s from the statutory-first start instead of 4.9 s (1.7 s from a
    10 s search's answer).
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
    flipped = np.zeros(n + 1, dtype=bool)  # the peak column (last) never is
    if start is not None:
        flipped[p.pairs_of(start)] = True
    sign = np.where(flipped, -1.0, 1.0)
    h.set_objective_coefficients(
        list(range(n + 1)),
        (sign * np.concatenate([p.pair_cost - skip[p.pair_item], [beta]])).tolist(),
    )
    variables = [mbh.Variable(h, k) for k in range(n + 1)]

    def row(pairs: np.ndarray, coefs: np.ndarray, lower: float, upper: float) -> int:
        # a x with x = 1 - y is a - a y: the row's bounds move by a.
        moved = float(coefs[flipped[pairs]].sum())
        c = h.add_linear_constraint()
        h.set_constraint_lower_bound(c, lower - moved)
        h.set_constraint_upper_bound(c, upper - moved)
        h.add_terms_to_constraint(c, [variables[k] for k in pairs], (sign[pairs] * coefs).tolist())
        return c

    item_start = p.item_start
    item_rows: list[tuple[int, int]] = []
    for i in range(p.num_items):
        if i % 512 == 0 and (time.perf_counter() > deadline or cancelled()):
            return None  # building alone took the time: no LP today
        lo, hi = int(item_start[i]), int(item_start[i + 1])
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
        values = np.asarray(solver.variable_values())[:n]
        x = np.where(flipped[:n], 1.0 - values, values)
    return LPSolution(
        x=x, mu=mu, nu=nu, lam=lam, optimal=solver.status() == mbh.SolveStatus.OPTIMAL
    )
