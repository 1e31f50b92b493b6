"""The core problem as a generic MIP (or its LP relaxation) for HiGHS: a benchmark baseline.

Not part of the library: HiGHS is a benchmark-only dependency (``pip install highspy``).
Variables: one binary per pair, then ``z`` (the peak, in percent). Rows: at most one
pair per item (exactly one where the item cannot be left out), one row per finite
agent limit, and ``100 u_0p / K_a x - z <= 0`` per counted agent.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem


def solve_highs(
    p: AssignmentProblem, *, time_limit: float, relax: bool = False, threads: int = 2
) -> dict[str, Any]:
    """Solve with HiGHS; returns objective, bound, assignment (or None) and seconds."""
    import highspy

    started = time.perf_counter()
    must = ~np.isfinite(p.skip_cost)
    skip = np.where(must, 0.0, p.skip_cost)
    P = p.num_pairs
    counted = p.peak_capacity > 0
    beta = p.peak_weight if counted.any() else 0.0
    cost = np.concatenate([p.pair_cost - skip[p.pair_item], [beta]])
    ncol = P + 1

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
    R, C, V = R[order], C[order], V[order]
    starts = np.searchsorted(C, np.arange(ncol))

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("threads", threads)
    lp = highspy.HighsLp()
    lp.num_col_ = ncol
    lp.num_row_ = r
    lp.col_cost_ = cost
    lp.col_lower_ = np.concatenate([np.zeros(P), [max(0.0, p.peak_floor)]])
    lp.col_upper_ = np.concatenate([np.ones(P), [1e4]])
    lp.row_lower_ = np.concatenate(lo)
    lp.row_upper_ = np.concatenate(hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.concatenate([starts, [R.size]]).astype(np.int32)
    lp.a_matrix_.index_ = R.astype(np.int32)
    lp.a_matrix_.value_ = V
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * P + [highspy.HighsVarType.kContinuous]
    h.passModel(lp)
    h.run()
    info = h.getInfo()
    offset = float(skip.sum())
    out: dict[str, Any] = {"seconds": time.perf_counter() - started, "assignment": None}
    if relax:
        out["objective"] = offset + h.getObjectiveValue()
        out["bound"] = out["objective"]
        return out
    out["bound"] = offset + info.mip_dual_bound if np.isfinite(info.mip_dual_bound) else None
    if info.primal_solution_status == 2:
        x = np.array(h.getSolution().col_value[:P]) > 0.5
        a = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
        a[p.pair_item[x]] = p.pair_agent[x]
        out["assignment"] = a
        out["objective"] = p.objective(a)
    return out
