"""CP-SAT model of the core problem, warm-started from a feasible assignment.

CP-SAT needs integers, so costs are scaled by a power of ten ``S`` (exact when
the data allow it, otherwise rounded *down*, which keeps the proven bound
valid) and resources by their own powers of ten: exact for decimal points;
for others (a third of a point) a fine scale, uses rounded up and each limit
given a relative room of ``ROUNDING_ROOM``, so that every solution fits its
limits within their tolerance and every exact fit is still a solution (where
the room cannot promise that, CP-SAT's bound is not used).

The peak term uses one integer ``z`` in units of
``1 / (beta S)`` percent with ``K_a z >= 100 beta S load_a``, so ``z`` over-states
the peak by less than one unit (more if points are not decimal); the bound is
corrected by that slack.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np
from ortools.sat.python import cp_model, cp_model_helper

from caseload.problem import UNASSIGNED, AssignmentProblem, SideLimit
from caseload.solvers.base import Progress, SolverOutput, watch

_MAX_SCALE_EXP = 6


def _scale_for(values: np.ndarray, *, max_abs: float = 2.0**50) -> tuple[float, bool]:
    """Smallest power of ten making ``values`` integral, and whether it is exact.

    Falls back to the largest power that keeps magnitudes below ``max_abs`` —
    below one for absurdly large data, which CP-SAT's 64-bit integers could
    not hold otherwise (rounding then stays on the safe side, see ``_round``).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1, True
    biggest = float(np.max(np.abs(finite)))
    for k in range(_MAX_SCALE_EXP + 1):
        s = 10**k
        scaled = finite * s
        if biggest * s > max_abs:
            break
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return s, True
    k = min(_MAX_SCALE_EXP, math.floor(math.log10(max_abs / max(biggest, 1.0))))
    return float(10.0**k), False


#: The relative room given to a limit whose uses are not decimals (a third of a
#: point, say), a tenth of the tolerance the limits are checked with (1e-9).
ROUNDING_ROOM = 1e-10


def _fine_scale(
    usage: np.ndarray, pair_agent: np.ndarray, num_agents: int, limits: np.ndarray
) -> float:
    """A power of ten for uses that no power makes integral: up to 10^12, as
    long as every agent's row (all its uses, and its limit) stays below 2^52."""
    row = np.bincount(pair_agent, weights=usage, minlength=num_agents)
    finite = limits[np.isfinite(limits)]
    biggest = max(float(row.max(initial=0.0)), float(finite.max(initial=0.0)), 1e-300)
    return float(10.0 ** min(12, math.floor(math.log10(2.0**52 / biggest))))


def _round(values: np.ndarray, how: str) -> np.ndarray:
    # Snap values that are integral up to float noise before floor/ceil, so that
    # 0.1 * 30 = 3.0000000000000004 does not become 4.
    near = np.round(values)
    snapped = np.where(
        np.abs(values - near) <= 1e-9 * np.maximum(1.0, np.abs(values)), near, values
    )
    return (np.floor(snapped) if how == "floor" else np.ceil(snapped)).astype(np.int64)


def _peak_fixed(p: AssignmentProblem) -> bool:
    """Whether no agent here can pass the peak floor, so the peak term is a constant.

    A sub-problem of a search on an overloaded authority is like this: some
    agent outside it is already full, so the floor is 100% and the peak rows
    would only slow CP-SAT down (measured on medium-0's sub-problems of 6-10
    agents: 0.60 s mean to 0.52 s, 13 to 15 of 24 proved within 1 s).
    """
    counted = p.peak_capacity > 0
    most = np.bincount(p.pair_agent, weights=p.pair_usage[0], minlength=p.num_agents)
    most = np.minimum(most, p.limits[0])
    return bool(np.all(100.0 * most[counted] / p.peak_capacity[counted] <= p.peak_floor))


class _Model(cp_model.CpModel):
    """A CP-SAT model without the camel-case aliases of its methods.

    ``CpModel()`` binds an alias for each of its methods on every new model
    (1.4 ms each, measured on a county's sub-problems, which take 26 ms to
    solve); a search builds thousands of models, and none uses the aliases.
    """

    def _add_pre_pep8_methods(self) -> None:
        pass


#: Every pair's variable: a 0-1 variable, copied into each model.
_BOOLEAN_VAR = cp_model_helper.IntegerVariableProto()
_BOOLEAN_VAR.domain.extend([0, 1])


def _add_at_most(
    proto: cp_model_helper.CpModelProto, variables: np.ndarray, coefs: np.ndarray, most: int
) -> None:
    """Add ``coefs . x[variables] <= most`` (zero coefficients left out, as CP-SAT's API does)."""
    nonzero = coefs != 0
    row = proto.constraints.add().linear
    row.vars.extend(variables[nonzero].tolist())
    row.coeffs.extend(coefs[nonzero].tolist())
    row.domain.extend([cp_model.INT_MIN, most])


class _Progress(cp_model.CpSolverSolutionCallback):
    """Reports each new solution (if asked) and keeps the best objective in ``seen[0]``."""

    def __init__(
        self,
        report: Callable[[Progress], bool | None] | None,
        to_true: Callable[[float], float],
        seen: list[float],
    ):
        super().__init__()
        self._report = report
        self._to_true = to_true
        self._seen = seen
        self._start = time.perf_counter()

    def on_solution_callback(self) -> None:
        point = Progress(
            seconds=time.perf_counter() - self._start,
            objective=self._to_true(self.objective_value),
            bound=self._to_true(self.best_objective_bound),
        )
        self._seen[0] = point.objective
        if self._report is not None and self._report(point):
            self.stop_search()


def solve_cpsat(
    problem: AssignmentProblem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 1,
    hint: np.ndarray | None = None,
    progress: Callable[[Progress], bool | None] | None = None,
    log: bool = False,
    work_limit: float | None = None,
    reference: float | None = None,
    side: SideLimit | None = None,
    stop: Callable[[], bool] | None = None,
    presolve: bool = True,
    give_up: Callable[[float, float], bool] | None = None,
) -> SolverOutput:
    """Solve the core problem with CP-SAT.

    Parameters
    ----------
    problem
        The core problem.
    time_limit
        Wall-clock seconds for the search (model building is extra and small).
    seed, threads
        CP-SAT's random seed and number of search threads.
    hint
        A feasible assignment (agent per item) to start from; every variable is
        hinted, including the peak.
    progress
        Called with each improving solution; return ``True`` to stop.
    log
        Print CP-SAT's search log.
    work_limit
        A limit in CP-SAT's deterministic time, which makes a one-thread solve
        reproducible whatever the machine's speed.
    reference
        The expected size of the objective, to choose the scale of the peak
        term (by default the hint's objective).
    side
        An extra global limit (a budget of moves, say); coefficients are
        rounded up and the limit down, so any solution truly respects it.
    stop
        Polled every 50 ms from a watcher thread; ``True`` ends the search
        with the best solution so far.
    give_up
        Polled every 50 ms with the best objective and bound so far (``inf``
        and ``-inf`` before there are any); ``True`` ends the search as
        ``stop`` does.
    presolve
        CP-SAT's presolve. Off for the many small sub-problems of a
        large-neighbourhood search: measured on a city authority's, it costs
        more than it saves (in 0.05 s, 10 of 24 proved optimal without it,
        1 with it, and four times the improvement found).

    Returns
    -------
    SolverOutput
        The best assignment found (``None`` if CP-SAT found none) and a valid
        lower bound on the objective.
    """
    p = problem
    start = p.item_start
    n_pairs = p.num_pairs
    must = ~np.isfinite(p.skip_cost)
    skip = np.where(must, 0.0, p.skip_cost)
    rel = p.pair_cost - skip[p.pair_item]
    beta = p.peak_weight if np.any(p.peak_capacity > 0) else 0.0
    if beta > 0 and _peak_fixed(p):
        beta = 0.0  # a constant, added to the offset below

    scale, exact_cost = _scale_for(
        np.concatenate([rel, [beta]]), max_abs=2.0**58 / max(1, p.num_items)
    )
    if beta > 0:
        # The peak is rounded to one unit of the scaled objective, so a fine
        # scale keeps the proven gap of an optimal solve below 1e-8.
        size = reference
        if size is None:
            size = abs(problem.objective(hint)) if hint is not None else 1.0
        wanted = 10 ** math.ceil(math.log10(1e8 / max(1.0, size)))
        finite = np.abs(rel[np.isfinite(rel)])
        biggest = max(float(finite.max()) if finite.size else 1.0, beta * 100, 1.0)
        room = 2.0**58 / (biggest * max(1, p.num_items))
        while scale < wanted and scale * 10 <= room:
            scale *= 10
    coef = _round(rel * scale, "floor")
    offset = float(skip.sum())
    if beta == 0.0:
        offset += p.peak_weight * p.peak_floor  # the peak is the floor: no agent here passes it

    # The model is written straight into its proto: through the expression API
    # each pair costs Python calls, which on a search's sub-problems (1,100 to
    # 3,400 pairs) took 17-55 ms per model against 34 ms of solving.
    model = _Model()
    proto = model.proto
    proto.variables.extend([_BOOLEAN_VAR] * n_pairs)  # pair k is variable k
    for lo, hi, needed in zip(start[:-1].tolist(), start[1:].tolist(), must.tolist(), strict=True):
        if hi == lo:
            if needed:
                proto.constraints.add().bool_or.literals.extend([])  # nowhere to go
            continue
        if needed:
            proto.constraints.add().exactly_one.literals.extend(range(lo, hi))
        elif hi - lo > 1:
            proto.constraints.add().at_most_one.literals.extend(range(lo, hi))
    by_agent = np.argsort(p.pair_agent, kind="stable")
    agent_start = np.searchsorted(p.pair_agent[by_agent], np.arange(p.num_agents + 1))
    relaxes = True  # every assignment within the limits is a solution of the model
    for r in range(p.pair_usage.shape[0]):
        rs, exact = _scale_for(np.concatenate([p.pair_usage[r], p.limits[r]]))
        if exact:
            use = _round(p.pair_usage[r] * rs, "ceil")
        else:
            rs = _fine_scale(p.pair_usage[r], p.pair_agent, p.num_agents, p.limits[r])
            use = np.ceil(p.pair_usage[r] * rs).astype(np.int64)
        for a in range(p.num_agents):
            limit = p.limits[r, a]
            sel = by_agent[agent_start[a] : agent_start[a + 1]]
            if not math.isfinite(limit) or p.pair_usage[r, sel].sum() <= limit:
                continue
            if exact:
                most = int(_round(np.array([limit * rs]), "floor")[0])
            else:
                # Uses rounded up fit within the limit plus a little room, so
                # every solution fits the limit within its tolerance; each
                # adds under one unit (two with the float error of scaling),
                # so where the room holds that for every pair, every exact fit
                # is still a solution and the bound holds.
                most = math.floor(limit * rs * (1 + ROUNDING_ROOM))
                relaxes &= most - limit * rs >= 2 * sel.size + 2
            _add_at_most(proto, sel, use[sel], most)

    if side is not None:
        skip_side = np.where(must, 0.0, side.skip_coef)
        lhs = _round(side.pair_coef - skip_side[p.pair_item], "ceil")
        rhs = side.limit - float(skip_side.sum())
        _add_at_most(proto, np.arange(n_pairs), lhs, math.floor(rhs + 1e-9))

    z = None
    peak_rows: list[tuple[np.ndarray, np.ndarray, int]] = []
    slack = 0  # units by which z may over-state the peak
    if beta > 0:
        # z is the peak in units of 1/(beta*S) percent, so one unit of z is one
        # unit of the scaled objective.
        units = beta * scale
        ps, exact_points = _scale_for(np.concatenate([p.pair_usage[0], p.peak_capacity]))
        use0 = p.pair_usage[0] * ps
        exact_rows = exact_points and float(units).is_integer()
        top = 0
        for a in np.flatnonzero(p.peak_capacity > 0).tolist():
            sel = by_agent[agent_start[a] : agent_start[a + 1]]
            if sel.size == 0 or not np.any(use0[sel] > 0):
                continue
            if (
                not 1.0 <= p.peak_capacity[a] * ps <= 2.0**50
                or 100.0 * units * float(use0[sel].sum()) > 2.0**58
            ):
                # Capacities or loads beyond 64-bit arithmetic at this scale
                # (absurd data): leaving the row out can only lower z, so the
                # bound stays valid; the reported peak is recomputed exactly anyway.
                continue
            cap = int(_round(np.array([p.peak_capacity[a] * ps]), "ceil")[0])
            lhs = _round(100.0 * units * use0[sel], "ceil")
            cap_most = 100.0 * units * min(p.limits[0, a] * ps, 2.0**50) * (1 + 1e-9)
            most = min(int(lhs.sum()), int(cap_most) + 1)
            top = max(top, -(-most // cap))
            slack = max(slack, 1 if exact_rows else sel.size + 1)
            peak_rows.append((sel, lhs, cap))
        floor = math.ceil(p.peak_floor * units * (1 - 1e-12))
        z = model.new_int_var(floor, max(floor, top + 1), "peak")
        for sel, lhs, cap in peak_rows:
            # lhs . x <= cap z, as cap z - lhs . x >= 0
            nonzero = lhs != 0
            row = proto.constraints.add().linear
            row.vars.extend([*sel[nonzero].tolist(), z.index])
            row.coeffs.extend([*(-lhs[nonzero]).tolist(), cap])
            row.domain.extend([0, cp_model.INT_MAX])
    # The objective and hints go straight into the model's proto: through the
    # expression API they cost a Python call per pair, which dominates
    # building a model that solves in a fraction of a second.
    index = list(range(n_pairs))
    objective = proto.objective
    objective.vars.extend(index + ([z.index] if z is not None else []))
    objective.coeffs.extend(coef.tolist() + ([1] if z is not None else []))

    if hint is not None:
        chosen = np.zeros(n_pairs, dtype=bool)
        chosen[p.pairs_of(hint)] = True
        hints = proto.solution_hint
        hints.vars.extend(index)
        hints.values.extend(chosen.astype(np.int64).tolist())
        if z is not None:
            need = [-(-int(lhs[chosen[sel]].sum()) // cap) for sel, lhs, cap in peak_rows]
            hints.vars.append(z.index)
            hints.values.append(max([floor, *need]))

    def to_true(value: float) -> float:
        return offset + value / scale

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, time_limit)
    solver.parameters.num_workers = max(1, threads)
    solver.parameters.random_seed = seed % 2**31  # CP-SAT's is 32-bit; seeds are any int >= 0
    solver.parameters.log_search_progress = log
    if log:
        # To stderr: with ``-o -`` stdout is the result file.
        solver.parameters.log_to_stdout = False
        solver.log_callback = _log_line
    solver.parameters.cp_model_presolve = presolve
    if work_limit is not None:
        solver.parameters.max_deterministic_time = max(0.001, work_limit)
    seen = [math.inf, -math.inf]  # best objective and bound so far
    callback = None
    if progress is not None or give_up is not None:
        callback = _Progress(progress, to_true, seen)
    if give_up is not None:
        solver.best_bound_callback = lambda value: seen.__setitem__(1, to_true(value))

    def halt() -> bool:
        return (stop is not None and stop()) or (give_up is not None and give_up(*seen))

    watcher = watch(halt, solver.stop_search) if stop is not None or give_up is not None else None
    try:
        status = solver.solve(model, callback)
    finally:
        if watcher is not None:
            watcher.set()

    assignment = None
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        values = np.array(list(solver.response_proto.solution), dtype=np.int64)[:n_pairs] > 0
        assignment = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
        assignment[p.pair_item[values]] = p.pair_agent[values]
    bound = None
    if relaxes and status in (cp_model.OPTIMAL, cp_model.FEASIBLE, cp_model.INFEASIBLE):
        # Rounded costs only go down; z may over-state the peak by `slack` units.
        raw = solver.best_objective_bound if status != cp_model.INFEASIBLE else math.inf
        bound = to_true(raw - slack)
    if status == cp_model.OPTIMAL and assignment is not None and bound is not None:
        # Proved optimal at this scale; if the rounding of the peak leaves the
        # proven gap visible, prove it again at a finer scale, from this solution.
        value = p.objective(assignment)
        if value - bound > 1e-9 * max(1.0, abs(value)) and reference is None:
            left = time_limit - solver.wall_time
            if left > 0.05:
                again = solve_cpsat(
                    problem,
                    time_limit=left,
                    seed=seed,
                    threads=threads,
                    hint=assignment,
                    work_limit=None
                    if work_limit is None
                    else work_limit - solver.deterministic_time,
                    reference=max(abs(value), 1e-9),
                    side=side,
                    stop=stop,
                    presolve=presolve,
                )
                if again.assignment is not None and again.bound is not None:
                    return again
    return SolverOutput(
        assignment=assignment,
        bound=bound,
        bound_source="cp-sat",
        proved_optimal=status == cp_model.OPTIMAL and exact_cost and relaxes,
        infeasible=status == cp_model.INFEASIBLE and relaxes,
        statistics={
            "cp_sat_status": solver.status_name(status),
            "cost_scale": scale,
            "exact_costs": exact_cost,
            "pairs": n_pairs,
            "conflicts": solver.num_conflicts,
            "deterministic_time": solver.deterministic_time,
        },
    )


def _log_line(line: str) -> None:
    print(line, file=sys.stderr)
