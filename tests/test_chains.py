"""Ejection chains: found where only a chain helps, never worse, never infeasible."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from caseload.compile import compile_instance
from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.solvers.chains import improving_chains
from caseload.solvers.greedy import greedy
from caseload.solvers.lns import _apply_chains
from strategies import instances


def three_in_a_row() -> AssignmentProblem:
    """Agents 0, 1, 2 hold one case each (a case limit of 1).

    Item 0 (left out, worth 100) fits only agent 0; item 1 (at agent 0) also
    fits agent 1; item 2 (at agent 1) also fits agent 2, which is empty; item 3
    (worth 1) is left out and fits agent 2. The optimum moves 2 to agent 2, 1
    to agent 1 and places 0 with agent 0: a chain of three moves. Swapping
    item 0 in for item 1 (left out, worth 60) gains less.
    """
    pair_item = np.array([0, 1, 1, 2, 2, 3])
    pair_agent = np.array([0, 0, 1, 1, 2, 2])
    return AssignmentProblem(
        num_items=4,
        num_agents=3,
        pair_item=pair_item,
        pair_agent=pair_agent,
        pair_cost=np.array([0.0, 1.0, 5.0, 1.0, 5.0, 0.0]),
        pair_usage=np.ones((1, 6)),
        limits=np.ones((1, 3)),
        skip_cost=np.array([100.0, 60.0, 60.0, 1.0]),
        peak_weight=0.0,
        peak_capacity=np.zeros(3),
        resource_names=("cases",),
    )


def test_a_chain_of_three_places_the_costly_item() -> None:
    p = three_in_a_row()
    start = np.array([UNASSIGNED, 0, 1, UNASSIGNED])
    value, loads = p.evaluate(start)
    assert value == pytest.approx(103.0)
    chains = improving_chains(p, start, loads)
    assert chains[0] == [(0, 0), (1, 1), (2, 2)]
    after, new_value, new_loads, applied = _apply_chains(p, start, value, loads, chains)
    assert applied == 1
    assert after.tolist() == [0, 1, 2, UNASSIGNED]
    # 0 + 5 + 5 for the pairs, item 3 left out: the optimum (item 3 and
    # item 2 compete for agent 2, and item 2 is worth more).
    assert new_value == pytest.approx(11.0) == p.objective(after)
    assert np.allclose(new_loads, p.evaluate(after)[1])


def test_frozen_agents_and_items_are_left_alone() -> None:
    p = three_in_a_row()
    start = np.array([UNASSIGNED, 0, 1, UNASSIGNED])
    _, loads = p.evaluate(start)
    frozen = np.array([False, False, True])
    chains = improving_chains(p, start, loads, frozen_agents=frozen)
    # Item 0 still gets in, pushing item 1 along or out, but not via agent 2.
    assert chains and chains[0][0] == (0, 0)
    for chain in chains:
        assert all(agent != 2 and start[item] != 2 for item, agent in chain)
    held = np.array([False, True, False, False])
    chains = improving_chains(p, start, loads, frozen_items=held)
    # Only item 3 into the empty agent 2 is left: item 0 needs item 1 to move.
    assert chains == [[(3, 2)]]


def test_no_chain_at_an_optimum() -> None:
    p = three_in_a_row()
    best = np.array([0, 1, 2, UNASSIGNED])
    assert improving_chains(p, best, p.evaluate(best)[1]) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_workers=4, max_cases=8))
def test_chains_never_worsen_and_stay_feasible(instance) -> None:
    p = compile_instance(instance).problem
    current = greedy(p)
    if p.violations(current):
        return
    value, loads = p.evaluate(current)
    must = ~np.isfinite(p.skip_cost)
    for _ in range(5):
        chains = improving_chains(p, current, loads)
        current, new_value, loads, applied = _apply_chains(p, current, value, loads, chains)
        assert new_value <= value
        assert not p.violations(current)
        assert np.all(current[must] != UNASSIGNED) or not np.isfinite(value)
        full, full_loads = p.evaluate(current)
        assert new_value == pytest.approx(full, rel=1e-9, abs=1e-9)
        assert np.allclose(loads, full_loads)
        value = new_value
        if not applied:
            break


def test_chains_move_only_along_the_pairs_given() -> None:
    p = three_in_a_row()
    start = np.array([UNASSIGNED, 0, 1, UNASSIGNED])
    _, loads = p.evaluate(start)
    # Without item 2's pair to agent 2 (pair 4) the chain of three cannot end
    # there: item 0 pushes item 1 out (-100 + 59), or item 1 on and item 2
    # out (-100 + 4 + 59), and item 3 still takes the empty agent (-1).
    some = np.array([True, True, True, True, False, True])
    chains = improving_chains(p, start, loads, pairs=some)
    assert chains == [[(0, 0), (1, UNASSIGNED)], [(0, 0), (1, 1), (2, UNASSIGNED)], [(3, 2)]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_workers=4, max_cases=8))
def test_a_mask_of_every_pair_changes_no_chain(instance) -> None:
    p = compile_instance(instance).problem
    current = greedy(p)
    _, loads = p.evaluate(current)
    every = np.ones(p.num_pairs, dtype=bool)
    assert improving_chains(p, current, loads, pairs=every) == improving_chains(p, current, loads)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chains_improve_a_greedy_allocation_of_an_authority(seed: int) -> None:
    """On a generated small authority, rounds of chains from the greedy
    allocation lower the objective (placing statutory cases the greedy left
    out), each round judged exactly, until no chain is left."""
    from caseload import Instance
    from caseload.generate import generate_authority

    p = compile_instance(Instance.from_dict(generate_authority("small", seed))).problem
    current = greedy(p)
    start_value, loads = p.evaluate(current)
    value = start_value
    for _ in range(100):
        chains = improving_chains(p, current, loads)
        current, value, loads, applied = _apply_chains(p, current, value, loads, chains)
        if not applied:
            break
    else:
        pytest.fail("chains still applying after 100 rounds")
    assert value < start_value
    assert value == pytest.approx(p.objective(current), rel=1e-9)
    assert not p.violations(current)


def test_the_search_applies_chains_between_its_steps() -> None:
    """On one thread (reproducible), the search from a greedy allocation of a
    small authority applies chains, and its answer is feasible and better."""
    from caseload import Instance
    from caseload.generate import generate_authority
    from caseload.solvers.lns import improve

    p = compile_instance(Instance.from_dict(generate_authority("small", 1))).problem
    start = greedy(p)
    found, stats = improve(p, start, deadline=time.perf_counter() + 60, seed=0, work=0.5)
    assert stats["chain_moves"] > 0
    assert not p.violations(found)
    assert p.objective(found) < p.objective(start)
    again, _ = improve(p, start, deadline=time.perf_counter() + 60, seed=0, work=0.5)
    assert np.array_equal(found, again)


def test_a_graph_too_large_is_searched_over_a_random_part_of_the_agents() -> None:
    """Past ``max_arcs`` a round covers agents drawn at random up to that many
    arcs: its chains touch only some agents, differ with the draw, and still
    improve when judged exactly."""
    from caseload import Instance
    from caseload.generate import generate_authority

    p = compile_instance(Instance.from_dict(generate_authority("small", 1))).problem
    current = greedy(p)
    value, loads = p.evaluate(current)
    whole = improving_chains(p, current, loads)
    touched_by_all = {agent for chain in whole for _, agent in chain} - {UNASSIGNED}
    parts = []
    for seed in (1, 2):
        part = improving_chains(p, current, loads, max_arcs=20_000, rng=np.random.default_rng(seed))
        touched = {agent for chain in part for _, agent in chain} - {UNASSIGNED}
        assert part and touched < touched_by_all
        _, new_value, _, applied = _apply_chains(p, current, value, loads, part)
        assert applied > 0 and new_value < value
        parts.append(part)
    assert parts[0] != parts[1]


def _one_chain_to_a_free_agent(skip: float) -> AssignmentProblem:
    """Agents 0 and 1 hold items 0 and 1 (a case limit of 1); agent 2 is free.

    Item 0 costs 5 at agent 0 and 1 at agent 1; item 1 costs 5 at agent 1 and
    1 at agent 2. The chain "0 takes 1's place, 1 goes to agent 2" saves 8.
    Nothing is left out.
    """
    return AssignmentProblem(
        num_items=2,
        num_agents=3,
        pair_item=np.array([0, 0, 1, 1]),
        pair_agent=np.array([0, 1, 1, 2]),
        pair_cost=np.array([5.0, 1.0, 5.0, 1.0]),
        pair_usage=np.ones((1, 4)),
        limits=np.ones((1, 3)),
        skip_cost=np.full(2, skip),
        peak_weight=0.0,
        peak_capacity=np.zeros(3),
        resource_names=("cases",),
    )


@pytest.mark.parametrize(("skip", "rounds"), [(10.0, False), (np.inf, True)])
def test_chains_run_between_steps_only_while_an_item_is_left_out(skip: float, rounds: bool) -> None:
    """Where leaving an item out can pay (a skip cost of 10, below the 12 all
    pairs cost) and none is out, the search leaves chains to the end, and its
    sub-problems find the move first; where it never can (a GAP) the round
    before the first step applies it."""
    from caseload.solvers.lns import improve

    p = _one_chain_to_a_free_agent(skip)
    start = np.array([0, 1])
    assert improving_chains(p, start, p.evaluate(start)[1])  # the chain is there
    found, stats = improve(p, start, deadline=time.perf_counter() + 30, seed=0, work=0.2)
    assert np.array_equal(found, [1, 2])
    assert (stats["chain_moves"] > 0) == rounds


def test_a_search_told_not_to_chain_finds_the_move_by_its_sub_problems() -> None:
    """The GAP above, whose first round of chains applies the move, with
    ``chains=False`` (the LP-fixed guided search): no chain is applied, and the
    sub-problems still find the optimum."""
    from caseload.solvers.lns import improve

    p = _one_chain_to_a_free_agent(np.inf)
    start = np.array([0, 1])
    found, stats = improve(
        p, start, deadline=time.perf_counter() + 30, seed=0, work=0.2, chains=False
    )
    assert np.array_equal(found, [1, 2])
    assert stats["chain_moves"] == 0
