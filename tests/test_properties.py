"""Invariants over generated small instances (hypothesis)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from caseload.check import check_result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseload import Instance, Worker, solve
from caseload.result import evaluate
from strategies import instances

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@SETTINGS
@given(instances())
def test_every_result_passes_the_independent_checker(inst: Instance) -> None:
    res = solve(inst, time_limit=5, threads=1)
    out = res.to_dict()
    report = check_result(inst.to_dict(), json.loads(json.dumps(out)))
    assert report.ok, report.violations
    # Every case exactly once, allocated or unallocated with a reason.
    listed = [a["case"] for a in out["assignments"]] + [u["case"] for u in out["unallocated"]]
    assert sorted(listed) == sorted(c.id for c in inst.cases)
    # The reported objective is the recomputation, term by term.
    again = evaluate(inst, res.allocation)
    for term, value in again.items():
        assert out["objective"][term] == pytest.approx(value, rel=1e-9, abs=1e-9)
        assert report.objective[term] == pytest.approx(value, rel=1e-6, abs=1e-6)
    assert res.bound is not None and res.bound <= res.objective["total"] + 1e-9


@SETTINGS
@given(instances())
def test_dict_round_trip_is_lossless(inst: Instance) -> None:
    text = json.dumps(inst.to_dict())
    again = Instance.from_dict(json.loads(text))
    assert again == inst
    assert json.dumps(again.to_dict()) == text


@SETTINGS
@given(instances(max_workers=3, max_cases=6), st.integers(0, 9), st.sampled_from([0, 10, 85]))
def test_adding_a_worker_never_worsens_a_proven_optimum(
    inst: Instance, which: int, capacity: int
) -> None:
    before = solve(inst, time_limit=5, threads=1)
    base = inst.localities[which % len(inst.localities)].id
    extra = Worker(id="extra-worker", base=base, capacity=capacity, skills=("cp", "court", "cwd"))
    after = solve(replace(inst, workers=(*inst.workers, extra)), time_limit=5, threads=1)
    if before.status == "optimal" and after.status == "optimal":
        # A new worker can only widen the choice: the old optimum stays feasible.
        # The peak term is an exception only if the newcomer's capacity counts in
        # the max with nothing on it (0%), which cannot raise a max.
        assert after.objective["total"] <= before.objective["total"] * (1 + 1e-7) + 1e-7
