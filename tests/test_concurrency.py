"""Solves running at once, in threads or processes, give the same results as alone."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from caseload import Instance, solve
from test_solve import random_tiny


def _solve_dict(data: dict[str, Any]) -> dict[str, Any]:
    result = solve(Instance.from_dict(data), time_limit=8, threads=1, seed=5).to_dict()
    result.pop("runtime_seconds")
    return result


def _instances() -> list[dict[str, Any]]:
    return [random_tiny(seed).to_dict() for seed in (11, 12, 13, 14)]


def test_four_solves_in_threads_match_solves_alone():
    data = _instances()
    alone = [_solve_dict(d) for d in data]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(_solve_dict, data))
    assert together == alone


def test_four_solves_in_processes_match_solves_alone():
    data = _instances()
    alone = [_solve_dict(d) for d in data]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        together = list(pool.map(_solve_dict, data))
    assert together == alone
