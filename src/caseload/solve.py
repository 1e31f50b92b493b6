"""Solve an instance: compile, construct, optimise, and explain the result."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import numpy as np

from caseload.compile import Compiled, compile_instance
from caseload.data import Instance
from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.result import Result, evaluate, unallocated_reasons, worker_rows
from caseload.solvers.base import Progress, SolverOutput
from caseload.solvers.greedy import greedy

logger = logging.getLogger("caseload")

#: Seconds kept back from the time limit for explaining and writing the result.
_RESERVE = 0.5


def solve(
    instance: Instance,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    threads: int = 2,
    progress: Callable[[Progress], bool | None] | None = None,
    log: bool = False,
) -> Result:
    """Allocate the cases of ``instance`` to its workers.

    Parameters
    ----------
    instance
        A valid instance.
    time_limit
        Wall-clock seconds for the whole solve, compilation included.
    seed
        Random seed; with ``threads=1`` the same seed gives the same result.
    threads
        Solver threads.
    progress
        Called with each improving solution (objective and bound); return
        ``True`` to stop early.
    log
        Print the solver's search log.

    Returns
    -------
    Result
        Always an allocation that satisfies every hard constraint: at worst the
        greedy one, which itself starts from the pinned closure.
    """
    started = time.perf_counter()
    compiled = compile_instance(instance)
    problem = compiled.problem
    logger.debug(
        "compiled %d items, %d agents, %d pairs in %.2f s",
        problem.num_items,
        problem.num_agents,
        problem.num_pairs,
        time.perf_counter() - started,
    )
    output = solve_problem(
        problem,
        time_limit=time_limit - (time.perf_counter() - started),
        seed=seed,
        threads=threads,
        progress=progress,
        log=log,
    )
    assert output.assignment is not None  # a valid instance always has one
    return build_result(compiled, output, time.perf_counter() - started)


def solve_problem(
    problem: AssignmentProblem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 2,
    progress: Callable[[Progress], bool | None] | None = None,
    log: bool = False,
) -> SolverOutput:
    """Greedy construction, then CP-SAT from it; the better assignment wins.

    The bound is the solver's, clamped to the returned objective (a bound above
    a feasible objective can only come from rounding noise).
    """
    from caseload.solvers.cpsat import solve_cpsat

    started = time.perf_counter()
    start = greedy(problem)
    must = ~np.isfinite(problem.skip_cost)
    start_ok = not problem.violations(start) and bool(np.all(start[must] != UNASSIGNED))
    budget = time_limit - (time.perf_counter() - started) - _RESERVE
    out = solve_cpsat(
        problem,
        time_limit=max(0.05, budget),
        seed=seed,
        threads=threads,
        hint=start if start_ok else None,
        progress=progress,
        log=log,
    )
    candidates = []
    if start_ok:
        candidates.append((problem.objective(start), 1, start))
    if out.assignment is not None and not problem.violations(out.assignment):
        candidates.append((problem.objective(out.assignment), 0, out.assignment))
    if not candidates:
        return SolverOutput(None, out.bound, out.bound_source, infeasible=out.infeasible)
    value, which, best = min(candidates, key=lambda c: (c[0], c[1]))
    bound = out.bound
    if bound is not None and math.isfinite(value):
        bound = min(bound, value)
    optimal = out.proved_optimal and which == 0
    stats = dict(out.statistics)
    stats["greedy_objective"] = candidates[0][0] if start_ok else None
    return SolverOutput(best, bound, out.bound_source, optimal, statistics=stats)


def build_result(compiled: Compiled, output: SolverOutput, runtime: float) -> Result:
    """Turn a core assignment into a :class:`Result`, recomputing every figure."""
    assert output.assignment is not None
    instance = compiled.instance
    allocation = compiled.case_assignment(output.assignment)
    objective = evaluate(instance, allocation)
    bound = output.bound
    status = "feasible"
    if bound is not None:
        bound = min(bound, objective["total"])
        gap = (objective["total"] - bound) / max(abs(objective["total"]), 1.0)
        if output.proved_optimal or gap <= 1e-9:
            status = "optimal"
    reasons = unallocated_reasons(compiled, allocation)
    return Result(
        instance_name=instance.name,
        status=status,
        objective=objective,
        weights=instance.weights.as_dict(),
        bound=bound,
        bound_source=output.bound_source if bound is not None else None,
        assignments={c: w for c, w in allocation.items() if w is not None},
        unallocated={c.id: reasons[c.id] for c in instance.cases if allocation[c.id] is None},
        workers=worker_rows(instance, allocation),
        runtime_seconds=runtime,
        statistics={
            "items": compiled.problem.num_items,
            "pairs": compiled.problem.num_pairs,
            **output.statistics,
        },
    )
