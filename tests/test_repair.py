"""The statutory repair and the LP rounding: hand-checked chains and invariants."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings

from caseload import Instance
from caseload.compile import compile_instance
from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.solvers.greedy import greedy
from caseload.solvers.repair import place_urgent
from strategies import instances


def chain_problem() -> AssignmentProblem:
    """Two agents of 2 points. Urgent item 0 (2 points) can go to either agent,
    urgent item 1 (2 points) only to agent 0, item 2 (1 point) only to agent 1."""
    return AssignmentProblem(
        num_items=3,
        num_agents=2,
        pair_item=np.array([0, 0, 1, 2]),
        pair_agent=np.array([0, 1, 0, 1]),
        pair_cost=np.zeros(4),
        pair_usage=np.array([[2.0, 2.0, 2.0, 1.0]]),
        limits=np.array([[2.0, 2.0]]),
        skip_cost=np.array([1e6, 1e6, 1.0]),
        peak_weight=0.0,
        peak_capacity=np.zeros(2),
        resource_names=("points",),
    )


def test_a_left_out_urgent_item_is_placed_by_moving_another():
    p = chain_problem()
    urgent = np.array([True, True, False])
    # Item 0 sits where item 1 must go; item 2 fills agent 1.
    start = np.array([0, UNASSIGNED, 1])
    assert not p.violations(start)
    repaired = place_urgent(p, start, urgent, seconds=5.0, threads=1, work=1.0)
    # The only allocation placing both urgent items: item 0 moves to agent 1,
    # item 2 (cheapest) makes way.
    assert repaired.tolist() == [1, 0, UNASSIGNED]
    assert p.objective(repaired) == 1.0
    assert p.objective(start) == 1e6


def test_no_time_or_no_work_leaves_the_allocation_as_it_is():
    p = chain_problem()
    urgent = np.array([True, True, False])
    start = np.array([0, UNASSIGNED, 1])
    # The same start as above, which one hop repairs given time or work.
    assert place_urgent(p, start, urgent, seconds=0.0).tolist() == start.tolist()
    assert place_urgent(p, start, urgent, seconds=5.0, work=0.0).tolist() == start.tolist()
    assert place_urgent(p, start, urgent, seconds=5.0).tolist() == [1, 0, UNASSIGNED]


def test_nothing_to_repair_returns_the_same_allocation():
    p = chain_problem()
    urgent = np.array([True, True, False])
    start = np.array([1, 0, UNASSIGNED])
    assert place_urgent(p, start, urgent, seconds=1.0).tolist() == start.tolist()


def test_an_urgent_item_that_cannot_fit_stays_out():
    p = chain_problem()
    # Item 0 can only go to agent 0 too: the two urgent items compete for one place.
    q = p.restricted(np.array([True, False, True, True]))
    urgent = np.array([True, True, False])
    start = np.array([0, UNASSIGNED, 1])
    repaired = place_urgent(q, start, urgent, seconds=2.0)
    assert not q.violations(repaired)
    assert int(np.sum(urgent & (repaired == UNASSIGNED))) == 1


@settings(max_examples=60, deadline=None)
@given(instances(max_workers=4, max_cases=8))
def test_repair_never_leaves_more_statutory_out_and_stays_feasible(inst: Instance) -> None:
    p = compile_instance(inst).problem
    urgent = ~np.isfinite(p.skip_cost) | (p.skip_cost >= 1e6)
    start = greedy(p, np.full(p.num_items, UNASSIGNED, dtype=np.int64))
    repaired = place_urgent(p, start, urgent, seconds=2.0, threads=1, work=0.5)
    assert not p.violations(repaired)
    before = int(np.sum(urgent & (start == UNASSIGNED)))
    after = int(np.sum(urgent & (repaired == UNASSIGNED)))
    assert after <= before


@settings(max_examples=40, deadline=None)
@given(instances(max_workers=4, max_cases=8))
def test_lp_roundings_are_feasible_and_keep_pinned_cases(inst: Instance) -> None:
    """The plain rounding, and the one settling statutory cases first (where it applies)."""
    import time

    from caseload.solve import _lp_rounded, _urgent_fixed
    from caseload.solvers.lp import solve_lp

    p = compile_instance(inst).problem
    lp = solve_lp(p, deadline=time.perf_counter() + 10.0)
    if lp is None or not lp.optimal:
        return  # an LP with no feasible point: nothing to round
    settled = _urgent_fixed(p, lp, deadline=time.perf_counter() + 10.0, work=None)
    must = ~np.isfinite(p.skip_cost) & (np.diff(p.item_start) > 0)
    for rounded in (_lp_rounded(p, lp), settled):
        if rounded is None:
            continue  # no statutory case split: nothing to settle
        assert not p.violations(rounded)
        assert np.all(rounded[must] != UNASSIGNED)


def test_search_path_handles_a_last_item_with_nowhere_to_go():
    from caseload.solve import solve_problem

    p = chain_problem()
    # A fourth item with no allowed agent, last in the item order.
    q = AssignmentProblem(
        num_items=4,
        num_agents=2,
        pair_item=p.pair_item,
        pair_agent=p.pair_agent,
        pair_cost=p.pair_cost,
        pair_usage=p.pair_usage,
        limits=p.limits,
        skip_cost=np.array([1e6, 1e6, 1.0, 5.0]),
        peak_weight=0.0,
        peak_capacity=np.zeros(2),
        resource_names=("points",),
    )
    out = solve_problem(q, time_limit=3.0, strategy="lns", threads=1, work=0.5)
    assert out.assignment is not None
    assert out.assignment.tolist() == [1, 0, UNASSIGNED, UNASSIGNED]
    assert q.objective(out.assignment) == 6.0
    assert out.bound is not None and out.bound <= 6.0 + 1e-9


def _lp_at(p: AssignmentProblem, x: list[float]):
    """An LP solution with the given pair values and zero prices (hand-made)."""
    from caseload.solvers.lp import LPSolution

    r, a = p.limits.shape
    return LPSolution(
        x=np.array(x),
        mu=np.zeros((r, a)),
        nu=np.zeros(a),
        lam=np.zeros(p.num_items),
        optimal=True,
    )


def test_split_urgent_items_are_fixed_where_the_lp_leans_and_room_allows():
    import time

    from caseload.solve import _urgent_fixed

    c = chain_problem()
    # Two more cheap items with nowhere to go, so that items 0 and 1 are
    # urgent (100 times the median cost of leaving an item out).
    p = dataclasses.replace(c, num_items=5, skip_cost=np.array([1e6, 1e6, 1.0, 1.0, 1.0]))
    deadline = time.perf_counter() + 10.0
    # Pairs: (item 0, agent 0), (item 0, agent 1), (item 1, agent 0), (item 2, agent 1).
    # Item 0 leans to agent 1 and goes there; item 1 (not placed by this LP)
    # then has agent 0, and item 2 no room.
    leaning = _urgent_fixed(p, _lp_at(p, [0.3, 0.7, 0.0, 1.0]), deadline=deadline, work=None)
    assert leaning is not None
    assert leaning.tolist() == [1, 0, UNASSIGNED, UNASSIGNED, UNASSIGNED]
    # Leaning the other way, item 0 takes agent 0 and leaves item 1 nowhere:
    # the rule follows the LP, and the statutory repair comes after it.
    other = _urgent_fixed(p, _lp_at(p, [0.7, 0.3, 0.0, 1.0]), deadline=deadline, work=None)
    assert other is not None
    assert other.tolist() == [0, UNASSIGNED, 1, UNASSIGNED, UNASSIGNED]
    # Item 1, whole at agent 0, is fixed first and fills it: item 0, leaning
    # there, takes its other pair.
    full = _urgent_fixed(p, _lp_at(p, [0.7, 0.3, 1.0, 0.0]), deadline=deadline, work=None)
    assert full is not None
    assert full.tolist() == [1, 0, UNASSIGNED, UNASSIGNED, UNASSIGNED]
    # Nothing split: nothing to settle.
    assert _urgent_fixed(p, _lp_at(p, [0.0, 1.0, 1.0, 0.0]), deadline=deadline, work=None) is None


def reinsert_problem() -> AssignmentProblem:
    """Three agents of 2 points. Urgent items 0 (2 points, agents 0/1), 1 (2
    points, agent 0 only) and 2 (1 point, agents 1/2); items 3-6 (1 point,
    leaving one out costs 1) may go anywhere."""
    pairs = [(0, 0), (0, 1), (1, 0), (2, 1), (2, 2)] + [
        (i, a) for i in range(3, 7) for a in range(3)
    ]
    items, agents = (np.array(c) for c in zip(*pairs, strict=True))
    return AssignmentProblem(
        num_items=7,
        num_agents=3,
        pair_item=items,
        pair_agent=agents,
        pair_cost=np.zeros(items.size),
        pair_usage=np.array([[2.0, 2.0, 2.0, 1.0, 1.0] + [1.0] * 12]),
        limits=np.array([[2.0, 2.0, 2.0]]),
        skip_cost=np.array([1e6, 1e6, 1e6, 1.0, 1.0, 1.0, 1.0]),
        peak_weight=0.0,
        peak_capacity=np.zeros(3),
        resource_names=("points",),
    )


def test_reinserting_moves_only_the_chain_the_fallback_needs():
    from caseload.solve import _reinsert_urgent

    p = reinsert_problem()
    # The search's best: item 1 out, item 0 on the one agent item 1 can take.
    best = np.array([0, UNASSIGNED, 2, 1, 1, 2, UNASSIGNED])
    fallback = np.array([1, 0, 2, UNASSIGNED, UNASSIGNED, UNASSIGNED, UNASSIGNED])
    assert not p.violations(best) and not p.violations(fallback)
    out = _reinsert_urgent(p, best, fallback)
    # Item 1 takes agent 0, item 0 moves to agent 1 as in the fallback and
    # items 3/4 make way there; agent 2 keeps items 2 and 5.
    assert out.tolist() == [1, 0, 2, UNASSIGNED, UNASSIGNED, 2, UNASSIGNED]
    assert not p.violations(out)


@settings(max_examples=40, deadline=None)
@given(instances(max_workers=4, max_cases=8))
def test_reinserting_places_every_urgent_item_the_fallback_places(inst: Instance) -> None:
    from caseload.solve import _reinsert_urgent, _urgent_items

    p = compile_instance(inst).problem
    urgent = _urgent_items(p)
    empty = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
    fallback = place_urgent(p, greedy(p, empty), urgent, seconds=2.0, threads=1, work=0.5)
    # Another feasible allocation: the greedy's, about half its urgent items left out.
    rng = np.random.default_rng(p.num_items)
    dropped = np.where(urgent & (rng.random(p.num_items) < 0.5), UNASSIGNED, greedy(p, empty))
    out = _reinsert_urgent(p, dropped, fallback)
    assert not p.violations(out)
    assert np.all(out[urgent & (fallback != UNASSIGNED)] != UNASSIGNED)
