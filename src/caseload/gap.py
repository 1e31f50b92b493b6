"""OR-Library generalised assignment problems, fed straight into the core problem.

The file is a stream of whitespace-separated integers: an optional problem
count ``P``, then per problem ``m n``, the ``m x n`` costs, the ``m x n``
resource uses and the ``m`` capacities. Every job goes to exactly one agent
(there is no "unallocated" here) within each agent's capacity.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caseload.errors import InvalidInstanceError, Problem
from caseload.problem import UNASSIGNED, AssignmentProblem


@dataclass(frozen=True, eq=False)
class GapInstance:
    """One generalised assignment problem: ``cost[i, j]``, ``usage[i, j]``, ``capacity[i]``."""

    cost: np.ndarray
    usage: np.ndarray
    capacity: np.ndarray

    @property
    def agents(self) -> int:
        """Number of agents (rows)."""
        return int(self.cost.shape[0])

    @property
    def jobs(self) -> int:
        """Number of jobs (columns)."""
        return int(self.cost.shape[1])

    def to_problem(self, sense: str = "min") -> AssignmentProblem:
        """The core problem; ``sense="max"`` negates costs (profits)."""
        if sense not in ("min", "max"):
            raise ValueError(f"sense must be 'min' or 'max', got {sense!r}")
        fits = self.usage <= self.capacity[:, None]  # other pairs can never be used
        job, agent = np.nonzero(fits.T)
        sign = 1.0 if sense == "min" else -1.0
        return AssignmentProblem(
            num_items=self.jobs,
            num_agents=self.agents,
            pair_item=job.astype(np.int64),
            pair_agent=agent.astype(np.int64),
            pair_cost=sign * self.cost[agent, job].astype(float),
            pair_usage=self.usage[agent, job].astype(float)[None, :],
            limits=self.capacity.astype(float)[None, :],
            skip_cost=np.full(self.jobs, np.inf),
            peak_weight=0.0,
            peak_capacity=np.zeros(self.agents),
            resource_names=("capacity",),
        )


_INTEGER = re.compile(r"[+-]?[0-9]+")


def parse_gap(text: str, source: str = "gap file") -> list[GapInstance]:
    """Parse every problem in an OR-Library GAP text.

    Raises
    ------
    InvalidInstanceError
        If the text holds a non-integer, too few integers, or leftovers.
    """
    tokens = text.split()
    for t in tokens:
        # ASCII digits only (int() also takes other scripts' digits), and
        # within 64 bits, where the model's arithmetic is done.
        if not _INTEGER.fullmatch(t):
            raise InvalidInstanceError([Problem(source, f"not an integer: {t[:20]!r}")])
        if len(t.lstrip("+-")) > 18:
            raise InvalidInstanceError([Problem(source, f"integer too large: {t[:20]!r}...")])
    values = [int(t) for t in tokens]

    def read(values: list[int], count: int) -> list[GapInstance] | None:
        pos, out = 0, []
        for _ in range(count):
            if pos + 2 > len(values):
                return None
            m, n = values[pos], values[pos + 1]
            pos += 2
            need = 2 * m * n + m
            if m <= 0 or n <= 0 or pos + need > len(values):
                return None
            block = np.array(values[pos : pos + need], dtype=np.int64)
            pos += need
            out.append(
                GapInstance(
                    block[: m * n].reshape(m, n),
                    block[m * n : 2 * m * n].reshape(m, n),
                    block[2 * m * n :],
                )
            )
        return out if pos == len(values) else None

    if not values:
        raise InvalidInstanceError([Problem(source, "empty: no problem in the file")])
    # With a leading count the stream must be consumed exactly; otherwise it is
    # a single problem.
    problems = read(values[1:], values[0]) if values[0] > 0 else None
    if problems is None:
        problems = read(values, 1)
    if problems is None:
        raise InvalidInstanceError(
            [Problem(source, "the integers do not match the announced sizes (too few or leftover)")]
        )
    return problems


def read_gap(path: str | os.PathLike[str]) -> list[GapInstance]:
    """Read every problem of an OR-Library GAP file."""
    return parse_gap(Path(path).read_text(encoding="utf-8", errors="replace"), str(path))


def solve_gap(
    instance: GapInstance,
    *,
    sense: str = "min",
    time_limit: float = 10.0,
    seed: int = 0,
    threads: int = 2,
    work: float | None = None,
) -> dict[str, Any]:
    """Solve a GAP problem; the output is the ``caseload gap`` JSON object.

    ``work`` is a deterministic budget for one-thread runs (see
    :func:`caseload.solve.solve_problem`).

    Returns
    -------
    dict
        ``objective`` (int, or ``None`` if nothing was found), ``bound`` (a
        proven bound in the problem's own sense, or ``None``), ``status``
        (``optimal`` / ``feasible`` / ``infeasible``, the last only when
        proved) and ``assignment`` (agent of each job, 0-based).
    """
    from caseload.solve import default_work, solve_problem

    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    started = time.perf_counter()
    problem = instance.to_problem(sense)
    out = solve_problem(
        problem,
        time_limit=time_limit - (time.perf_counter() - started),
        seed=seed,
        threads=threads,
        work=work if work is not None or threads > 1 else default_work(time_limit),
    )
    sign = 1 if sense == "min" else -1
    bound = None if out.bound is None else sign * out.bound
    if out.assignment is None or np.any(out.assignment == UNASSIGNED):
        return {
            "objective": None,
            "bound": None if out.infeasible else bound,
            "status": "infeasible" if out.infeasible else "unknown",
            "assignment": [],
        }
    jobs = np.arange(instance.jobs)
    objective = int(instance.cost[out.assignment, jobs].sum())
    if bound is not None:
        # Costs are integers, so the bound rounds towards the objective.
        bound = int(np.ceil(bound - 1e-6)) if sense == "min" else int(np.floor(bound + 1e-6))
    optimal = out.proved_optimal or bound == objective
    return {
        "objective": objective,
        "bound": bound,
        "status": "optimal" if optimal else "feasible",
        "assignment": out.assignment.tolist(),
    }
