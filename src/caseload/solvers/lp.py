"""The LP relaxation of the core problem, solved by GLOP (OR-Tools' simplex).

Used for two things: its prices give the Lagrangian bound (recomputed exactly
by :class:`~caseload.solvers.lagrangian.CapacityLagrangian`, so the bound is
valid whatever tolerance the simplex worked to), and its integral part is a
good start for local search.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.linear_solver.python import model_builder_helper as mbh

from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.solvers.base import watch

try:  # the optional extra 'fast'; imported here, not inside a solve's time
    from scipy.sparse import csr_matrix
except ImportError:
    csr_matrix = None


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

    flipped = np.zeros(n + 1, dtype=bool)  # the peak column (last) never is
    if start is not None:
        flipped[p.pairs_of(start)] = True
    sign = np.where(flipped, -1.0, 1.0)
    objective = sign * np.concatenate([p.pair_cost - skip[p.pair_item], [beta]])

    # Rows in order: one per item with pairs, one per binding agent limit, one
    # per counted agent's peak; each block of entries as (columns, coefficients,
    # rows), with the rows' bounds in `lowers` and `uppers`.
    sizes = np.diff(p.item_start)
    item_rows = np.flatnonzero(sizes > 0)
    blocks = [(np.arange(n), np.ones(n), np.repeat(np.arange(item_rows.size), sizes[item_rows]))]
    lowers = [np.where(must[item_rows], 1.0, -np.inf)]
    uppers = [np.ones(item_rows.size)]
    by_agent = np.argsort(p.pair_agent, kind="stable")
    agent_start = np.searchsorted(p.pair_agent[by_agent], np.arange(p.num_agents + 1))
    agent_sizes = np.diff(agent_start)
    limit_rows: list[tuple[int, int]] = []
    rows = item_rows.size
    for r in range(p.pair_usage.shape[0]):
        total = np.bincount(p.pair_agent, weights=p.pair_usage[r], minlength=p.num_agents)
        agents = np.flatnonzero(np.isfinite(p.limits[r]) & (total > p.limits[r]))
        if agents.size == 0:
            continue
        cols = np.concatenate([by_agent[agent_start[a] : agent_start[a + 1]] for a in agents])
        blocks.append(
            (
                cols,
                p.pair_usage[r, cols],
                rows + np.repeat(np.arange(agents.size), agent_sizes[agents]),
            )
        )
        lowers.append(np.full(agents.size, -np.inf))
        uppers.append(p.limits[r, agents].astype(float))
        limit_rows += [(r, int(a)) for a in agents]
        rows += agents.size
    peak_agents = np.flatnonzero(counted) if beta else np.zeros(0, dtype=np.int64)
    if peak_agents.size:
        cols = np.concatenate([by_agent[agent_start[a] : agent_start[a + 1]] for a in peak_agents])
        owner = np.repeat(np.arange(peak_agents.size), agent_sizes[peak_agents])
        coefs = 100.0 * p.pair_usage[0, cols] / p.peak_capacity[p.pair_agent[cols]]
        blocks.append((cols, coefs, rows + owner))
        blocks.append(
            (
                np.full(peak_agents.size, n),
                -np.ones(peak_agents.size),
                rows + np.arange(peak_agents.size),
            )
        )
        lowers.append(np.full(peak_agents.size, -np.inf))
        uppers.append(np.zeros(peak_agents.size))
        rows += peak_agents.size
    col = np.concatenate([b[0] for b in blocks])
    coef = np.concatenate([b[1] for b in blocks])
    row_of = np.concatenate([b[2] for b in blocks])
    order = np.lexsort((col, row_of))
    col, coef = col[order], coef[order]
    indptr = np.searchsorted(row_of[order], np.arange(rows + 1))
    # a x with x = 1 - y is a - a y: the row's bounds move by a. Summed row by
    # row as numpy sums them, so that the bounds, and GLOP's path, are to the
    # last bit those of a model built row by row.
    moved = np.zeros(rows)
    for k in np.unique(np.searchsorted(indptr, np.flatnonzero(flipped[col]), "right") - 1):
        row = slice(indptr[k], indptr[k + 1])
        moved[k] = float(coef[row][flipped[col[row]]].sum())
    lower = np.concatenate(lowers) - moved
    upper = np.concatenate(uppers) - moved
    coef = coef * sign[col]
    h = _model(
        deadline,
        cancelled,
        np.concatenate([np.zeros(n), [max(0.0, p.peak_floor)]]),
        np.concatenate([np.ones(n), [1e4]]),
        objective,
        lower,
        upper,
        (coef, col, indptr, n + 1),
    )
    if h is None:
        return None

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
    duals = -np.asarray(solver.dual_values()) if rows else np.zeros(0)
    if duals.size != rows or not np.all(np.isfinite(duals)):
        return None
    lam = np.zeros(p.num_items)
    lam[item_rows] = np.where(
        must[item_rows], duals[: item_rows.size], np.maximum(0.0, duals[: item_rows.size])
    )
    mu = np.zeros_like(p.limits)
    for k, (r, a) in enumerate(limit_rows):
        mu[r, a] = max(0.0, duals[item_rows.size + k])
    nu = np.zeros(p.num_agents)
    nu[peak_agents] = np.maximum(0.0, duals[rows - peak_agents.size :])
    if nu.sum() > beta > 0:
        nu *= beta / nu.sum()
    x = np.zeros(n)
    if solver.has_solution():
        values = np.asarray(solver.variable_values())[:n]
        x = np.where(flipped[:n], 1.0 - values, values)
    return LPSolution(
        x=x, mu=mu, nu=nu, lam=lam, optimal=solver.status() == mbh.SolveStatus.OPTIMAL
    )


def _model(
    deadline: float,
    cancelled: Callable[[], bool],
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    objective: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    matrix: tuple[np.ndarray, np.ndarray, np.ndarray, int],
) -> mbh.ModelBuilderHelper | None:
    """The LP in GLOP's model, from its rows in compressed sparse row form.

    ``matrix`` is (values, columns, row starts, number of columns). With SciPy
    installed the model is filled in one call; without it, row by row, which on
    a large authority (130,000 pairs) takes 0.4-0.8 s of Python alone and 1.1 s
    with the search beside it contending for the interpreter. ``None`` if the
    deadline passes or ``cancelled`` says so while building.
    """
    values, columns, starts, num_columns = matrix
    h = mbh.ModelBuilderHelper()
    if csr_matrix is not None:
        fill: Any = h.fill_model_from_sparse_data  # its stubs misname numpy's types
        sparse = csr_matrix((values, columns, starts), shape=(row_lower.size, num_columns))
        fill(col_lower, col_upper, objective, row_lower, row_upper, sparse)
        return h
    add_vars: Any = h.add_var_array_with_bounds  # its stubs misname numpy's types
    add_vars(col_lower, col_upper, np.zeros(num_columns, dtype=bool), "")
    h.set_objective_coefficients(list(range(num_columns)), objective.tolist())
    variables = [mbh.Variable(h, k) for k in range(num_columns)]
    for k in range(row_lower.size):
        if k % 512 == 0 and (time.perf_counter() > deadline or cancelled()):
            return None  # building alone took the time: no LP today
        c = h.add_linear_constraint()
        h.set_constraint_lower_bound(c, float(row_lower[k]))
        h.set_constraint_upper_bound(c, float(row_upper[k]))
        lo, hi = int(starts[k]), int(starts[k + 1])
        h.add_terms_to_constraint(
            c, [variables[j] for j in columns[lo:hi].tolist()], values[lo:hi].tolist()
        )
    return h
