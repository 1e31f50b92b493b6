"""The core problem as a generic MIP (or its LP relaxation) for HiGHS or SCIP: benchmark baselines.

Not part of the library. HiGHS is a benchmark-only dependency (``pip install highspy``);
SCIP comes with OR-Tools (through its model builder), so it needs nothing more.
Variables: one binary per pair, then ``z`` (the peak, in percent). Rows: at most one
pair per item (exactly one where the item cannot be left out), one row per finite
agent limit, and ``100 u_0p / K_a x - z <= 0`` per counted agent.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem


def _matrix(p: AssignmentProblem) -> dict[str, Any]:
    """The MIP's arrays: costs and bounds per column, bounds per row, and the
    nonzeros as (row, column, value) triples sorted by column."""
    must = ~np.isfinite(p.skip_cost)
    skip = np.where(must, 0.0, p.skip_cost)
    P = p.num_pairs
    counted = p.peak_capacity > 0
    beta = p.peak_weight if counted.any() else 0.0
    cost = np.concatenate([p.pair_cost - skip[p.pair_item], [beta]])

    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0
    # item rows
    rows.append(p.pair_item)
    cols.append(np.arange(P))
    vals.append(np.ones(P))
    lo.append(np.where(must, 1.0, -np.inf))
    hi.append(np.ones(p.num_items))
    r += p.num_items
    # agent limit rows
    for res in range(p.pair_usage.shape[0]):
        finite = np.isfinite(p.limits[res])
        row_of_agent = np.full(p.num_agents, -1)
        row_of_agent[finite] = r + np.arange(finite.sum())
        keep = finite[p.pair_agent]
        rows.append(row_of_agent[p.pair_agent[keep]])
        cols.append(np.flatnonzero(keep))
        vals.append(p.pair_usage[res, keep])
        lo.append(np.full(finite.sum(), -np.inf))
        hi.append(p.limits[res, finite])
        r += int(finite.sum())
    if beta:
        row_of_agent = np.full(p.num_agents, -1)
        row_of_agent[counted] = r + np.arange(counted.sum())
        keep = counted[p.pair_agent]
        inv = np.where(counted, 100.0 / np.where(counted, p.peak_capacity, 1.0), 0.0)
        rows += [row_of_agent[p.pair_agent[keep]], row_of_agent[counted]]
        cols += [np.flatnonzero(keep), np.full(counted.sum(), P)]
        vals += [p.pair_usage[0, keep] * inv[p.pair_agent[keep]], -np.ones(counted.sum())]
        lo.append(np.full(counted.sum(), -np.inf))
        hi.append(np.zeros(counted.sum()))
        r += int(counted.sum())
    R = np.concatenate(rows)
    C = np.concatenate(cols)
    V = np.concatenate(vals)
    order = np.lexsort((R, C))  # column-wise
    return {
        "cost": cost,
        "col_lower": np.concatenate([np.zeros(P), [max(0.0, p.peak_floor)]]),
        "col_upper": np.concatenate([np.ones(P), [1e4]]),
        "row_lower": np.concatenate(lo),
        "row_upper": np.concatenate(hi),
        "rows": R[order],
        "cols": C[order],
        "values": V[order],
        "num_rows": r,
        "offset": float(skip.sum()),
    }


def _assignment(p: AssignmentProblem, values: np.ndarray) -> np.ndarray:
    x = np.asarray(values[: p.num_pairs]) > 0.5
    a = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
    a[p.pair_item[x]] = p.pair_agent[x]
    return a


def solve_highs(
    p: AssignmentProblem, *, time_limit: float, relax: bool = False, threads: int = 2
) -> dict[str, Any]:
    """Solve with HiGHS; returns objective, bound, assignment (or None) and seconds.

    With ``relax``, the LP relaxation: ``optimal`` says whether it finished, and
    only then is its objective given as the bound.
    """
    import highspy

    started = time.perf_counter()
    m = _matrix(p)
    P = p.num_pairs
    ncol = P + 1
    R, C, V = m["rows"], m["cols"], m["values"]
    starts = np.searchsorted(C, np.arange(ncol))

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("threads", threads)
    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = m["num_rows"]
    lp.col_cost_ = m["cost"]
    lp.col_lower_ = m["col_lower"]
    lp.col_upper_ = m["col_upper"]
    lp.row_lower_ = m["row_lower"]
    lp.row_upper_ = m["row_upper"]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([starts, [R.size]]).astype(np.int32)
    lp.a_matrix_.index_ = R.astype(np.int32)
    lp.a_matrix_.value_ = V
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * P + [highspy.HighsVarType.kContinuous]
    h.passModel(lp)
    h.run()
    info = h.getInfo()
    offset = m["offset"]
    out: dict[str, Any] = {"seconds": time.perf_counter() - started, "assignment": None}
    if relax:
        # Stopped by its time limit, the simplex's objective proves nothing.
        out["optimal"] = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        out["objective"] = offset + h.getObjectiveValue()
        out["bound"] = out["objective"] if out["optimal"] else None
        return out
    out["bound"] = offset + info.mip_dual_bound if np.isfinite(info.mip_dual_bound) else None
    if info.primal_solution_status == 2:
        a = _assignment(p, np.array(h.getSolution().col_value))
        out["assignment"] = a
        out["objective"] = p.objective(a)
    return out


def solve_scip(p: AssignmentProblem, *, time_limit: float) -> dict[str, Any]:
    """Solve with SCIP (one thread) through OR-Tools' model builder; as :func:`solve_highs`.

    Building the model (a Python call per row) counts against the time limit.
    """
    from ortools.linear_solver.python import model_builder_helper as mbh

    started = time.perf_counter()
    m = _matrix(p)
    P = p.num_pairs
    h = mbh.ModelBuilderHelper()
    integral = np.concatenate([np.ones(P, dtype=bool), [False]])
    h.add_var_array_with_bounds(m["col_lower"], m["col_upper"], integral, "")
    h.set_objective_coefficients(list(range(P + 1)), m["cost"].tolist())
    variables = [mbh.Variable(h, k) for k in range(P + 1)]
    by_row = np.argsort(m["rows"], kind="stable")
    R, C, V = m["rows"][by_row], m["cols"][by_row], m["values"][by_row]
    row_start = np.searchsorted(R, np.arange(m["num_rows"] + 1))
    for r in range(m["num_rows"]):
        c = h.add_linear_constraint()
        h.set_constraint_lower_bound(c, float(m["row_lower"][r]))
        h.set_constraint_upper_bound(c, float(m["row_upper"][r]))
        lo, hi = row_start[r], row_start[r + 1]
        h.add_terms_to_constraint(c, [variables[k] for k in C[lo:hi]], V[lo:hi].tolist())
    solver = mbh.ModelSolverHelper("scip")
    solver.set_time_limit_in_seconds(max(0.01, time_limit - (time.perf_counter() - started)))
    solver.solve(h)
    out: dict[str, Any] = {"seconds": time.perf_counter() - started, "assignment": None}
    bound = solver.best_objective_bound() if solver.has_response() else float("nan")
    out["bound"] = m["offset"] + bound if np.isfinite(bound) else None
    if solver.has_solution():
        a = _assignment(p, np.asarray(solver.variable_values()))
        out["assignment"] = a
        out["objective"] = p.objective(a)
    return out
