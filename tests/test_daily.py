"""Daily operations: incremental allocation, leavers, explanations, cancellation."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import caseload as cl
from caseload import scenarios as sc
from caseload.explain import explain_case, explain_moves
from caseload.generate import generate_authority, new_referrals
from caseload.result import evaluate
from caseload.solvers.base import Progress

W = {"statutory": 1_000_000, "unallocated": 1000, "continuity": 200, "travel": 1, "balance": 0}


def _room_instance() -> cl.Instance:
    """Two workers, both full; a statutory newcomer fits only if a green case moves.

    ana (capacity 10) holds g1 (5 points, green) and g2 (5, green); ben
    (capacity 5) holds b1 (5, amber). The new cp case (5 points) can go to
    ana only (ben lacks the skill). Moving g1 off leaves it unallocated (ben
    is full), costing 200 (continuity) + 1000 (priority 1) but saving 10^6.
    """
    m = cl.Model("room")
    here = m.add_locality("here")
    cp = m.add_case_type("cp", points=5, must_allocate=True)
    cin = m.add_case_type("cin", points=5)
    ana = m.add_worker("ana", base=here, capacity=10, skills=["cp"])
    ben = m.add_worker("ben", base=here, capacity=5)
    m.add_case("g1", type=cin, location=here, priority=1, current_worker=ana)
    m.add_case("g2", type=cin, location=here, priority=3, current_worker=ana)
    m.add_case("b1", type=cin, location=here, priority=3, current_worker=ben)
    m.add_case("new", type=cp, location=here, skills=["cp"], priority=5)
    m.set_weights(**W)
    return m.data()


def _discretionary(result: cl.Result) -> int:
    return sum(not m.forced for m in result.moves)


def test_no_moves_allowed_keeps_everyone_and_leaves_the_newcomer_out():
    inst = _room_instance()
    result = cl.solve(inst, max_moves=0, time_limit=5, threads=1)
    assert cl.check(inst, result).ok
    assert result.allocation == {"g1": "ana", "g2": "ana", "b1": "ben", "new": None}
    assert result.unallocated["new"].reason == "capacity"
    assert result.moves == ()


def test_one_move_makes_room_for_the_statutory_case_at_the_least_cost():
    inst = _room_instance()
    result = cl.solve(inst, max_moves=1, time_limit=5, threads=1)
    assert cl.check(inst, result).ok
    # The green case (priority 1) gives way, not the amber one.
    assert result.allocation == {"g1": None, "g2": "ana", "b1": "ben", "new": "ana"}
    assert result.objective["total"] == pytest.approx(200 + 1000 * 1)
    assert [(m.case, m.from_worker, m.to_worker, m.forced) for m in result.moves] == [
        ("g1", "ana", None, False)
    ]
    (why,) = explain_moves(inst, result)
    assert "ana's capacity" in why.why


def test_a_worker_cut_below_their_caseload_sheds_cases_even_with_no_moves_allowed():
    inst = sc.with_capacity(_room_instance(), "ana", 5)
    result = cl.solve(inst, max_moves=0, time_limit=5, threads=1)
    assert cl.check(inst, result).ok
    # ana's cases are outside the budget: her limits cannot hold them all.
    assert "max_moves_lifted" not in result.statistics
    # ana has room for one case: the statutory newcomer, so both greens leave.
    assert result.allocation == {"g1": None, "g2": None, "b1": "ben", "new": "ana"}
    assert {(m.case, m.forced) for m in result.moves} == {("g1", True), ("g2", True)}


def test_leaver_cases_are_forced_moves_each_reallocated_or_explained():
    data = generate_authority("small", 3)
    base = cl.Instance.from_dict(data)
    today = sc.with_allocation(base, cl.solve(base, time_limit=4, threads=2))
    holder = max(
        {c.current_worker for c in today.cases if c.current_worker},
        key=lambda w: sum(c.current_worker == w for c in today.cases),
    )
    gone = sc.without_worker(today, holder)
    affected = {c.id for c in gone.cases if c.current_worker == holder}
    assert affected
    result = cl.solve(gone, max_moves=3, time_limit=2, threads=2)
    assert cl.check(gone, result).ok
    moved = {m.case: m for m in result.moves}
    assert affected <= set(moved)
    assert all(moved[c].forced for c in affected)
    assert _discretionary(result) <= 3
    for c in affected:
        assert c in result.assignments or result.unallocated[c].reason in cl.result.REASONS
    explained = {e.case: e for e in explain_moves(gone, result)}
    assert set(explained) == set(moved)
    assert all("no longer a worker here" in explained[c].why for c in affected)


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), count=st.integers(1, 40), max_moves=st.integers(0, 6))
def test_incremental_results_pass_the_checker_and_respect_the_budget(seed, count, max_moves):
    data = generate_authority("small", seed % 3)
    today = sc.with_allocation(
        cl.Instance.from_dict(data),
        {c["id"]: c.get("current_worker") for c in data["cases"]},
    )
    day = sc.add_cases(today, new_referrals(data, count, seed))
    result = cl.solve(day, max_moves=max_moves, time_limit=1.5, threads=1, seed=seed)
    report = cl.check(day, result)
    assert report.ok, report.violations[:3]
    if not result.statistics.get("max_moves_lifted"):
        assert _discretionary(result) <= max_moves
    assert len(result.assignments) + len(result.unallocated) == len(day.cases)


def test_explain_case_figures_agree_with_recomputing_the_objective():
    inst = cl.Instance.from_dict(generate_authority("small", 1))
    result = cl.solve(inst, time_limit=3, threads=2)
    base = evaluate(inst, result.allocation)
    case = next(c for c in inst.cases if c.group is not None and c.id in result.assignments)
    why = explain_case(inst, result, case.id)
    assert set(why.group) == {c.id for c in inst.cases if c.group == case.group}
    assert why.alternatives
    for option in why.alternatives[:5]:
        moved = dict(result.allocation)
        for c in why.group:
            moved[c] = option.worker
        after = evaluate(inst, moved)
        for term, value in option.change.items():
            assert value == pytest.approx(after[term] - base[term], abs=1e-6)
    assert case.id in why.text and "personal" not in why.text


def test_explain_names_an_unknown_case():
    inst = _room_instance()
    result = cl.solve(inst, time_limit=2, threads=1)
    with pytest.raises(cl.InvalidInstanceError, match=r"cases\[nope\]"):
        explain_case(inst, result, "nope")


def test_fifty_referrals_on_a_city_authority_in_about_a_second():
    data = generate_authority("medium", 0)
    base = cl.Instance.from_dict(data)
    today = sc.with_allocation(base, cl.solve(base, time_limit=6, threads=2))
    day = sc.add_cases(today, new_referrals(data, 50, seed=1))
    started = time.perf_counter()
    result = cl.solve(day, max_moves=10, time_limit=1.0, threads=2)
    elapsed = time.perf_counter() - started
    assert cl.check(day, result).ok
    assert _discretionary(result) <= 10
    # The time limit is the contract (its 2 s slack included); the benchmark
    # reports the measured figure.
    assert elapsed < 3.0


def test_a_stop_callback_cancels_a_long_solve_quickly_with_a_checked_allocation():
    inst = cl.Instance.from_dict(generate_authority("medium", 1))
    asked = threading.Event()
    threading.Timer(1.5, asked.set).start()
    started = time.perf_counter()
    result = cl.solve(inst, time_limit=60, threads=2, stop=asked.is_set)
    elapsed = time.perf_counter() - started
    assert cl.check(inst, result).ok
    assert elapsed < 6.0


def test_incremental_solves_report_progress_and_stop_when_asked():
    data = generate_authority("small", 1)
    today = sc.with_allocation(
        cl.Instance.from_dict(data), {c["id"]: c.get("current_worker") for c in data["cases"]}
    )
    day = sc.add_cases(today, new_referrals(today, 20, 3))
    seen: list[Progress] = []
    result = cl.solve(day, max_moves=10, time_limit=3, threads=2, progress=seen.append)
    assert seen, "the first solve is reported"
    assert all(point.bound is None for point in seen)
    assert all(b.objective < a.objective for a, b in itertools.pairwise(seen))
    assert seen[-1].objective == pytest.approx(result.objective["total"])
    asked: list[float] = []

    def enough(point: Progress) -> bool:
        asked.append(time.perf_counter())
        return True

    result = cl.solve(day, max_moves=10, time_limit=30, threads=2, progress=enough)
    assert len(asked) == 1 and time.perf_counter() - asked[0] < 2.0
    assert cl.check(day, result).ok


def test_one_thread_incremental_solves_repeat_exactly():
    data = generate_authority("small", 1)
    today = sc.with_allocation(
        cl.Instance.from_dict(data), {c["id"]: c.get("current_worker") for c in data["cases"]}
    )
    day = sc.add_cases(today, new_referrals(today, 20, 3))
    runs = []
    for _ in range(2):
        # An explicit work budget, the clock only a guard: what repeats on any machine.
        found = cl.solve(day, max_moves=5, time_limit=30, threads=1, work=0.4).to_dict()
        found.pop("runtime_seconds")
        runs.append(found)
    assert "wall_limited" not in runs[0]["statistics"]
    assert runs[0] == runs[1]
