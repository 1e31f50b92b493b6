"""Timings with pytest-benchmark: model build and fixed-budget solves.

    python -m pytest benchmarks/test_bench.py --benchmark-enable

These never decide pass/fail on time; they assert only that the results are
correct (checked allocations), and pytest-benchmark reports the timings.
"""

from __future__ import annotations

import pytest

from caseload import Instance, check
from caseload.compile import compile_instance
from caseload.generate import generate_authority
from caseload.solve import solve
from caseload.solvers.greedy import greedy


@pytest.fixture(scope="module", params=["medium", "large"])
def authority(request: pytest.FixtureRequest) -> Instance:
    return Instance.from_dict(generate_authority(request.param, 0))


def test_compile(benchmark, authority: Instance) -> None:
    compiled = benchmark(compile_instance, authority)
    assert compiled.problem.num_pairs > 10_000


def test_greedy(benchmark, authority: Instance) -> None:
    problem = compile_instance(authority).problem
    assignment = benchmark(greedy, problem)
    assert not problem.violations(assignment)


def test_solve_two_seconds(benchmark, authority: Instance) -> None:
    result = benchmark.pedantic(
        solve, args=(authority,), kwargs={"time_limit": 2, "threads": 2}, rounds=1, iterations=1
    )
    assert check(authority, result).ok
    assert result.objective["statutory"] == 0


@pytest.fixture(scope="module")
def next_day() -> Instance:
    """The medium authority the day after a 6 s solve, with 50 new referrals."""
    from caseload import scenarios as sc
    from caseload.generate import new_referrals

    data = generate_authority("medium", 0)
    base = Instance.from_dict(data)
    today = sc.with_allocation(base, solve(base, time_limit=6, threads=2))
    return sc.add_cases(today, new_referrals(data, 50, seed=1))


def test_fifty_referrals_incremental(benchmark, next_day: Instance) -> None:
    result = benchmark.pedantic(
        solve,
        args=(next_day,),
        kwargs={"time_limit": 1, "threads": 2, "max_moves": 10},
        rounds=3,
        iterations=1,
        warmup_rounds=1,
    )
    assert check(next_day, result).ok
    assert sum(not m.forced for m in result.moves) <= 10
