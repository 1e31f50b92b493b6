"""Invariants over generated small instances (hypothesis)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseload import Instance, Worker, solve
from caseload.check import check_result
from caseload.result import evaluate
from strategies import instance_dicts, instances

#: CASELOAD_HYPOTHESIS_SCALE=20 runs the long profile (thousands of examples).
SCALE = int(os.environ.get("CASELOAD_HYPOTHESIS_SCALE", "1"))

SETTINGS = settings(
    max_examples=200 * SCALE,
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


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=500 * SCALE, deadline=None, suppress_health_check=list(HealthCheck))
@given(instance_dicts(), st.data())
def test_any_mutation_is_valid_or_refused_cleanly(data: dict, draw: st.DataObject) -> None:
    from caseload import InvalidInstanceError

    # Walk to a random object in the instance and break one of its keys.
    target: Any = data
    for _ in range(draw.draw(st.integers(0, 2))):
        children = [
            v
            for v in (target.values() if isinstance(target, dict) else target)
            if isinstance(v, (dict, list)) and v
        ]
        if not children:
            break
        target = draw.draw(st.sampled_from(children))
    if isinstance(target, list):
        target.append(draw.draw(JUNK))
    elif target:
        key = draw.draw(st.sampled_from(sorted(target)))
        if draw.draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw.draw(JUNK)
    try:
        Instance.from_dict(data)
    except InvalidInstanceError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)


@SETTINGS
@given(instances())
def test_pinned_closure_is_always_a_valid_allocation(inst: Instance) -> None:
    from test_check import result_for

    # The closure: each pinned case and its whole sibling group on the pinned worker.
    worker_of_group = {c.group: c.current_worker for c in inst.cases if c.pinned and c.group}
    closure = {
        c.id: c.current_worker if c.pinned else worker_of_group.get(c.group) if c.group else None
        for c in inst.cases
    }
    data = inst.to_dict()
    result = result_for(data, closure)
    report = check_result(data, result)
    assert report.ok, report.violations
