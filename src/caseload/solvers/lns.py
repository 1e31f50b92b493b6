"""Large-neighbourhood search: free a few agents' items, re-solve that exactly, repeat.

Each step picks a handful of related agents — those able to take an item left
out, or those sharing many candidate items with a seed agent (at random, or
the incumbent of an item moved from it, with its new agent) — frees every item
they hold plus the left-out items they could take, and hands that sub-problem,
with everything else fixed, to CP-SAT with the current assignment as a hint.
The peak elsewhere is passed down as the sub-problem's peak floor, so the
sub-problem's objective is exactly the change in the full objective. A step is
kept only if it lowers the objective, so the search never gets worse than its
start. Between steps, and alone at the end, rounds of ejection chains
(:mod:`~caseload.solvers.chains`) reach across any agents one item at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.solvers.base import Progress, SolverOutput
from caseload.solvers.chains import Chain, improving_chains
from caseload.solvers.cpsat import solve_cpsat

#: Deterministic-time budget per wall-clock second when searching on one thread.
DETERMINISTIC_SHARE = 0.4
#: Agents freed per sub-problem at first; adapted to how fast CP-SAT proves them.
INITIAL_AGENTS = 8
#: Most agents freed per sub-problem (50 measured the same on large authorities).
MAX_AGENTS = 30
#: Left-out items offered per freed agent in a sub-problem.
FREE_PER_AGENT = 20
#: Wall-clock seconds per sub-problem: many quick steps beat a few long ones.
SUB_SECONDS = 0.05
#: Share of neighbourhoods built around a case moved from its current worker
#: (where there are such cases): that worker, the case's new one, and workers
#: able to take the first's cases. Where most children must keep their worker
#: the last steps are bringing them back, and a random seed worker rarely
#: finds the chain that allows it: large-2 at 10 s, seeds 0-5, 60,233 on
#: average without (59,994-60,984), 59,798 with (59,794, the 300 s value, in
#: five of six); medium-0/1/2, large-0/1 within run-to-run noise.
MOVED_SHARE = 0.25
#: Sub-problems in a row without a gain after which the share around moved
#: cases doubles, until one gains: where the search has stalled, what is left
#: is mostly children to bring back. Large-2 at 10 s, seeds 0-13: within 0.5%
#: of its 300 s value in 6 runs of 14 without, 10 with (a later batch, not
#: interleaved; mean 60,073 ->
#: 59,944); medium-0/1/2 (seeds 3-6, interleaved) 598,844 / 448,832 / 472,417
#: -> 600,616 / 447,399 / 473,421, within their noise; the CI gate's one-thread
#: solves identical (they never stall this long). A constant half instead
#: helped large-2 as much but put the gate's small-1 / medium-1 0.6% higher.
STALLED_STEPS = 20
#: Deterministic work charged per step for building it in Python, so that a
#: one-thread budget also accounts for the time CP-SAT does not count.
STEP_WORK = 0.02
#: Steps between rounds of ejection chains (:mod:`~caseload.solvers.chains`);
#: doubled after a round that finds nothing, reset after one that does.
CHAIN_STEPS = 30
#: Most of the search's time spent on chains: a round blocks the building of
#: sub-problems, so the threads wait for it.
CHAIN_SHARE = 0.5
#: Most arcs searched in one round (see :func:`~caseload.solvers.chains.improving_chains`):
#: a city authority's whole graph; on a county a part of its workers. County-1/2
#: at 30 s, seeds 0-1: 435,228 / 572,543 with a million, 456,787 / 597,380 with
#: 400,000; county-0/2 with 2.5 million: 567,948 / 587,853 against 565,911 / 571,153.
CHAIN_ARCS = 1_000_000
#: Deterministic work charged per arc searched, set when a round over a city
#: authority's 800,000 arcs took about 0.09 s. Rounds now take 0.04 s, but
#: charging that (2e-8) put the CI gate's one-thread medium-0 0.9% higher
#: (its one seed), so the old charge stays.
CHAIN_WORK_PER_ARC = 4.5e-8
#: Share of the search's time (at most a second) kept for chains to the end,
#: once the sub-problems are done.
FINISH_SHARE = 0.1


class _Index:
    """Pair lists by agent and by item, for fast neighbourhood construction.

    With a ``view`` (a mask of pairs) only those pairs are offered, besides
    each item's current one.
    """

    def __init__(self, p: AssignmentProblem, view: np.ndarray | None = None) -> None:
        self.item_start = p.item_start
        self.view = view
        pairs = np.arange(p.num_pairs) if view is None else np.flatnonzero(view)
        self.by_agent = pairs[np.argsort(p.pair_agent[pairs], kind="stable")]
        self.agent_start = np.searchsorted(p.pair_agent[self.by_agent], np.arange(p.num_agents + 1))
        counts = np.bincount(p.pair_item[pairs], minlength=p.num_items)
        self.options = counts > 0
        # Each item's pair with its incumbent, where the view offers it (-1 if not).
        self.home: np.ndarray | None = None
        at_home = p.incumbent_pairs if view is None else p.incumbent_pairs & view
        if at_home.any():
            self.home = np.full(p.num_items, -1, dtype=np.int64)
            self.home[p.pair_item[at_home]] = np.flatnonzero(at_home)

    def item_pairs(self, items: np.ndarray) -> np.ndarray:
        """The pairs of ``items`` in the view, in order."""
        sel = _ranges(self.item_start[items], self.item_start[items + 1])
        return sel if self.view is None else sel[self.view[sel]]

    def agent_pairs(self, a: int) -> np.ndarray:
        return self.by_agent[self.agent_start[a] : self.agent_start[a + 1]]


@dataclass(frozen=True, eq=False)
class _Job:
    """One sub-problem to solve, and how to map its answer back."""

    sub: AssignmentProblem
    items: np.ndarray
    agents: np.ndarray
    hint: np.ndarray
    seed: int
    seconds: float
    work: float | None

    def run(self) -> SolverOutput:
        return solve_cpsat(
            self.sub,
            time_limit=self.seconds,
            seed=self.seed,
            threads=1,
            hint=self.hint,
            work_limit=self.work,
            presolve=False,
        )

    def global_agents(self, local: np.ndarray) -> np.ndarray:
        return np.where(local == UNASSIGNED, UNASSIGNED, self.agents[np.maximum(local, 0)])


def _changed(
    p: AssignmentProblem,
    value: float,
    loads: np.ndarray,
    items: np.ndarray,
    old: np.ndarray,
    new: np.ndarray,
) -> tuple[float, np.ndarray]:
    """The objective and loads once ``items`` go from agents ``old`` to ``new``.

    Only the items that move are priced, so that judging a step on a
    county's 1.5 million pairs does not cost a pass over all of them (a third
    of the search's Python time there). ``value`` (finite) and ``loads`` are
    those of the assignment before the move.
    """
    moved = old != new
    items, old, new = items[moved], old[moved], new[moved]
    out = loads.copy()
    change = 0.0
    for agents, sign in ((old, -1.0), (new, 1.0)):
        placed = agents != UNASSIGNED
        pairs = p.pairs_for(items[placed], agents[placed])
        change += sign * (
            float(p.pair_cost[pairs].sum()) + float(p.skip_cost[items[~placed]].sum())
        )
        for r, usage in enumerate(p.pair_usage):
            np.add.at(out[r], agents[placed], sign * usage[pairs])
    if p.peak_weight:
        change += p.peak_weight * (p.peak(out) - p.peak(loads))
    return value + change, out


def _apply_chains(
    p: AssignmentProblem,
    assignment: np.ndarray,
    value: float,
    loads: np.ndarray,
    chains: list[Chain],
) -> tuple[np.ndarray, float, np.ndarray, int]:
    """Apply, best first, the chains that still lower the objective, on distinct agents.

    Each is judged exactly on the whole problem, after those applied before it.
    """
    touched = np.zeros(p.num_agents, dtype=bool)
    applied = 0
    for chain in chains:
        items = np.array([item for item, _ in chain], dtype=np.int64)
        new = np.array([agent for _, agent in chain], dtype=np.int64)
        old = assignment[items]
        agents = np.concatenate([old[old != UNASSIGNED], new[new != UNASSIGNED]])
        if np.unique(items).size < items.size or touched[agents].any():
            continue
        changed, changed_loads = _changed(p, value, loads, items, old, new)
        if value - changed > 1e-9 * max(1.0, abs(value)) and not p.over_limits(changed_loads):
            assignment = assignment.copy()
            assignment[items] = new
            value, loads = changed, changed_loads
            touched[agents] = True
            applied += 1
    return assignment, value, loads, applied


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for each pair, vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return offsets + np.arange(total)


def sub_problem(
    p: AssignmentProblem,
    assignment: np.ndarray,
    agents: np.ndarray,
    index: _Index,
    max_free_unassigned: int,
    rng: np.random.Generator,
    taken: np.ndarray | None = None,
    include: np.ndarray | None = None,
    loads: np.ndarray | None = None,
) -> tuple[AssignmentProblem, np.ndarray, np.ndarray, np.ndarray]:
    """The sub-problem over ``agents``: their items plus left-out items they could take.

    Left-out items already ``taken`` (a mask) by another sub-problem solved at
    the same time are not offered. ``loads`` are those of ``assignment``, if
    the caller keeps them (``problem.loads`` of its pairs), which spares
    recomputing them over every pair of a county for the peak floor. Returns
    the sub-problem, the global items and agents it covers (both sorted), and
    the hint (local agent per item).
    """
    agents = np.unique(agents)
    in_set = np.zeros(p.num_agents, dtype=bool)
    in_set[agents] = True
    pairs = np.concatenate([index.agent_pairs(int(a)) for a in agents])
    items = np.unique(p.pair_item[pairs])
    held = np.flatnonzero((assignment != UNASSIGNED) & in_set[np.maximum(assignment, 0)])
    out = items[assignment[items] == UNASSIGNED]
    if taken is not None:
        out = out[~taken[out]]
    if out.size > max_free_unassigned:
        # Costlier left-out items are likelier to be offered, but every one
        # gets its turn: always offering the same top few would offer mostly
        # items that do not fit.
        weight = p.skip_cost[out] / p.skip_cost[out].sum()
        out = np.sort(rng.choice(out, size=max_free_unassigned, replace=False, p=weight))
    if include is not None:
        out = np.union1d(out, include)
    items = np.sort(np.concatenate([held, out]))

    sel = _ranges(index.item_start[items], index.item_start[items + 1])
    keep = in_set[p.pair_agent[sel]]
    if index.view is not None:
        # An item's current pair stays on offer, in the view or not.
        keep &= index.view[sel] | (p.pair_agent[sel] == assignment[p.pair_item[sel]])
    sel = sel[keep]
    local_item = np.searchsorted(items, p.pair_item[sel])
    local_agent = np.searchsorted(agents, p.pair_agent[sel])

    outside = ~in_set & (p.peak_capacity > 0)
    floor = p.peak_floor
    if p.peak_weight and outside.any():
        if loads is None:
            loads = p.loads(p.pairs_of(assignment))
        # An agent's load sums its own pairs only, so the others' items do not change it.
        floor = max(floor, float(np.max(100.0 * loads[0, outside] / p.peak_capacity[outside])))

    sub = AssignmentProblem(
        num_items=int(items.size),
        num_agents=int(agents.size),
        pair_item=local_item.astype(np.int64),
        pair_agent=local_agent.astype(np.int64),
        pair_cost=p.pair_cost[sel],
        pair_usage=p.pair_usage[:, sel],
        limits=p.limits[:, agents],
        skip_cost=p.skip_cost[items],
        peak_weight=p.peak_weight,
        peak_capacity=p.peak_capacity[agents],
        resource_names=p.resource_names,
        peak_floor=floor,
    )
    current = assignment[items]
    hint = np.where(
        current == UNASSIGNED, UNASSIGNED, np.searchsorted(agents, np.maximum(current, 0))
    )
    return sub, items, agents, hint


def restrict(
    p: AssignmentProblem, items: np.ndarray, assignment: np.ndarray
) -> tuple[AssignmentProblem, np.ndarray]:
    """The problem on a subset of items (sorted), all agents kept; and the hint.

    Agents' limits are as in ``p``: the other items are simply absent.
    """
    sel = _ranges(p.item_start[items], p.item_start[items + 1])
    sub = AssignmentProblem(
        num_items=int(items.size),
        num_agents=p.num_agents,
        pair_item=np.searchsorted(items, p.pair_item[sel]).astype(np.int64),
        pair_agent=p.pair_agent[sel],
        pair_cost=p.pair_cost[sel],
        pair_usage=p.pair_usage[:, sel],
        limits=p.limits,
        skip_cost=p.skip_cost[items],
        peak_weight=p.peak_weight,
        peak_capacity=p.peak_capacity,
        resource_names=p.resource_names,
        peak_floor=p.peak_floor,
    )
    return sub, assignment[items]


def _related_agents(
    p: AssignmentProblem,
    seed_agent: int,
    k: int,
    index: _Index,
    rng: np.random.Generator,
    busy: np.ndarray,
) -> np.ndarray:
    """``seed_agent`` and up to ``k - 1`` agents sharing candidate items with it.

    Agents marked ``busy`` (in another sub-problem of this round) are skipped.
    """
    pairs = index.agent_pairs(seed_agent)
    if pairs.size == 0:
        return np.array([seed_agent])
    items = p.pair_item[rng.choice(pairs, size=min(pairs.size, 60), replace=False)]
    others = p.pair_agent[index.item_pairs(items)]
    counts = np.bincount(others, minlength=p.num_agents).astype(float)
    counts[seed_agent] = 0
    counts[busy] = 0
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return np.array([seed_agent])
    take = min(k - 1, nonzero.size)
    chosen = rng.choice(
        nonzero, size=take, replace=False, p=counts[nonzero] / counts[nonzero].sum()
    )
    return np.concatenate([[seed_agent], chosen])


def leaving_out_never_pays(p: AssignmentProblem) -> bool:
    """Whether every item costs more to leave out than all pairs together (a
    GAP searched with a penalty for leaving a job out)."""
    return bool(np.all(p.skip_cost > np.abs(p.pair_cost).sum()))


def improve(
    problem: AssignmentProblem,
    start: np.ndarray,
    *,
    deadline: float,
    seed: int = 0,
    threads: int = 1,
    progress: Callable[[Progress], bool | None] | None = None,
    bound: Callable[[], float | None] = lambda: None,
    stop: Callable[[], bool] = lambda: False,
    work: float | None = None,
    view: np.ndarray | None = None,
    patience: int | None = None,
    chains: bool = True,
    free_per_agent: int = FREE_PER_AGENT,
    max_agents: int = MAX_AGENTS,
    moved_share: float = MOVED_SHARE,
) -> tuple[np.ndarray, dict[str, float]]:
    """Improve a feasible assignment by LNS until ``deadline`` (a ``perf_counter`` time).

    ``stop`` is asked between steps and ends the search early when it says so.
    ``work`` is the one-thread budget in CP-SAT's deterministic time; by
    default it is derived from the time left, which varies a little from run
    to run, so reproducible callers pass it.

    With ``threads`` > 1, that many disjoint sub-problems are solved at once,
    one CP-SAT thread each; as soon as one ends, the next is built from the
    best assignment so far, clear of those still being solved. With one
    thread the search is reproducible: each sub-problem and the whole search
    are limited in CP-SAT's deterministic time, and the wall-clock deadline
    only guards against a slow machine.

    ``view`` is a mask of pairs (for example those cheap at the LP's prices):
    neighbourhoods are drawn from it, offering only its pairs (and each item's
    current one), so that a sub-problem of the same size reaches more agents.
    Every step is judged on the whole problem.

    Every :data:`CHAIN_STEPS` steps (within :data:`CHAIN_SHARE` of the time),
    while an item is left out (on a GAP, always), a round of ejection chains
    is applied, clear of the sub-problems being solved. The last
    :data:`FINISH_SHARE` of the time is chains alone, over every agent, until
    a round finds nothing; the sub-problems then go on for what is left.
    ``chains=False`` leaves chains out altogether.

    ``free_per_agent`` left-out items are offered per freed agent, and at most
    ``max_agents`` agents are freed at once: either smaller makes smaller
    sub-problems, so more steps in the time. ``moved_share`` of the
    neighbourhoods (where items have incumbents) are built around an item
    moved from its incumbent (see :func:`_seed_agents`), twice that once
    :data:`STALLED_STEPS` sub-problems in a row have gained nothing.

    With ``patience``, the search also ends after that many sub-problems in a
    row have brought nothing while CP-SAT proves them at the largest size: the
    neighbourhoods have nothing left to give.

    Returns the best assignment and search statistics.
    """
    p = problem
    rng = np.random.default_rng(seed)
    index = _Index(p, view)
    best = start.copy()
    best_value, best_loads = p.evaluate(best)
    began = time.perf_counter()
    threads = max(1, threads)
    deterministic = threads == 1
    # CP-SAT's deterministic time runs at about half of wall time on one thread.
    work_left = DETERMINISTIC_SHARE * (deadline - began) if work is None else work
    max_agents = min(max_agents, p.num_agents)
    k = min(INITIAL_AGENTS, max_agents)
    steps = improved = stalled = 0
    wall_limited = finished = False
    # Agents and left-out items of the sub-problems being solved: a new one
    # keeps clear of them, so that each answer still fits when it comes back.
    busy = np.zeros(p.num_agents, dtype=bool)
    taken = np.zeros(p.num_items, dtype=bool)

    def build(left: float) -> _Job | None:
        share = moved_share if stalled < STALLED_STEPS else min(1.0, 2.0 * moved_share)
        seeds, focus = _seed_agents(p, best, index, busy, taken, k, rng, share)
        if seeds.size == 0:
            return None
        agents = seeds
        if seeds.size < k:
            related = _related_agents(p, int(seeds[0]), k - seeds.size + 1, index, rng, busy)
            agents = np.unique(np.concatenate([seeds, related]))
        include = None if focus is None else np.array([focus])
        sub, items, agents, hint = sub_problem(
            p, best, agents, index, free_per_agent * k, rng, taken, include, best_loads
        )
        busy[agents] = True
        taken[items] = True
        return _Job(
            sub,
            items,
            agents,
            hint,
            seed=int(rng.integers(2**31 - 1)),
            # On one thread the deterministic limit ends each sub-solve; the
            # clock only guards the deadline.
            seconds=left if deterministic else min(SUB_SECONDS, left),
            work=min(0.5 * SUB_SECONDS, work_left) if deterministic else None,
        )

    def settle(job: _Job, out: SolverOutput) -> None:
        """Keep the job's answer if it improves the whole; adapt the neighbourhood size."""
        nonlocal best, best_value, best_loads, improved, stalled, k, work_left, finished
        busy[job.agents] = False
        taken[job.items] = False
        work_left -= float(out.statistics.get("deterministic_time", 0.0)) + STEP_WORK
        gained = False
        if out.assignment is not None:
            agents_of = job.global_agents(out.assignment)
            # Most steps give back their hint: nothing to evaluate.
            if not np.array_equal(best[job.items], agents_of):
                candidate = best.copy()
                candidate[job.items] = agents_of
                if np.isfinite(best_value):
                    value, loads = _changed(
                        p, best_value, best_loads, job.items, best[job.items], agents_of
                    )
                else:
                    value, loads = p.evaluate(candidate)
                gain = best_value - value > 1e-9 * max(1.0, abs(best_value))
                if gain and not p.over_limits(loads):
                    best, best_value, best_loads = candidate, value, loads
                    gained = True
        stalled = 0 if gained else stalled + 1
        if gained:
            improved += 1
            point = Progress(time.perf_counter() - began, best_value, bound())
            if progress is not None and progress(point):
                finished = True
        # Grow the neighbourhood while CP-SAT proves sub-problems quickly.
        if out.proved_optimal:
            if patience is not None and stalled >= patience and k >= max_agents:
                finished = True
            k = min(k + 1, max_agents)
        else:
            k = min(max(4, k - 2), max_agents)

    chain_due, chain_gap, chain_moves = 0, CHAIN_STEPS, 0
    chain_spent = 0.0  # seconds, or work on one thread
    round_seconds = 0.0  # the longest round of chains so far
    held = np.bincount(best[best != UNASSIGNED], minlength=p.num_agents)
    chain_pairs = p.pair_agent if view is None else p.pair_agent[view]
    chain_work = CHAIN_WORK_PER_ARC * min(CHAIN_ARCS, int(held[chain_pairs].sum()))
    # Time kept for chains at the end. On one thread the clock only guards
    # the search, so that runs repeat: work is kept instead.
    finish = chains and bool(CHAIN_STEPS) and FINISH_SHARE > 0
    finish_seconds = (
        0.0 if deterministic or not finish else min(1.0, FINISH_SHARE * (deadline - began))
    )
    finish_work = FINISH_SHARE * work_left if finish else 0.0
    total_work = work_left

    # Rounds only while an item is left out, unless no item is ever worth
    # leaving out (a GAP searched with a penalty for leaving a job out).
    # large-0 leaves none out, and there the search ended higher with rounds
    # in the main search (why, we have not found; their time is not it): 10 s,
    # seeds 0-2, 42,311 without chains, 42,381 with rounds throughout, 42,328
    # with rounds only while a case is out. On tight GAPs rounds
    # throughout helped type D (d80x1600 97,284 -> 97,211, d40x400 24,432 ->
    # 24,388, 15 s, seeds 1-2) and cost type E a little (178,539 -> 178,584).
    always_chains = leaving_out_never_pays(p)

    def chains_due() -> bool:
        if not chains or not CHAIN_STEPS or steps < chain_due or not np.isfinite(best_value):
            return False
        if not always_chains and not np.any((best == UNASSIGNED) & index.options):
            return False
        spent = total_work - work_left if deterministic else time.perf_counter() - began
        return chain_spent <= CHAIN_SHARE * spent

    def chain_round(rounds: int = 1) -> None:
        """Apply ejection chains clear of the sub-problems being solved, round
        after round while they find some (up to ``rounds``)."""
        nonlocal best, best_value, best_loads, chain_due, chain_gap, chain_moves
        nonlocal work_left, finished, chain_spent, round_seconds, wall_limited
        total = 0
        for _ in range(rounds):
            if deterministic:
                # Work decides; the clock only guards (judged by how long a
                # round took, two runs of medium-1 at 5 s differed by 33 moves).
                if work_left <= 0:
                    break
                if deadline - time.perf_counter() < 0.05:
                    wall_limited = True
                    break
            elif deadline - time.perf_counter() < 0.05 + round_seconds:
                # A round on a county takes a few tenths of a second: none is
                # begun that the longest so far says could overrun the deadline.
                break
            began_round = time.perf_counter()
            chains = improving_chains(
                p,
                best,
                best_loads,
                frozen_agents=busy,
                frozen_items=taken,
                pairs=index.view,
                max_arcs=CHAIN_ARCS,
                rng=rng,
            )
            best, best_value, best_loads, applied = _apply_chains(
                p, best, best_value, best_loads, chains
            )
            work_left -= chain_work
            took = time.perf_counter() - began_round
            round_seconds = max(round_seconds, took)
            chain_spent += chain_work if deterministic else took
            total += applied
            if not applied:
                break
        chain_moves += total
        chain_gap = CHAIN_STEPS if total else 2 * chain_gap
        chain_due = steps + chain_gap
        if total:
            point = Progress(time.perf_counter() - began, best_value, bound())
            if progress is not None and progress(point):
                finished = True

    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    running: dict[Future[SolverOutput], _Job] = {}

    def drain() -> None:
        # Answers still coming (each within SUB_SECONDS) are kept if they help.
        for future in list(running):
            out = future.result()
            job = running.pop(future)
            if not finished:
                settle(job, out)

    try:
        while p.num_agents and not finished:
            if chains_due():
                chain_round()
            left = deadline - time.perf_counter()
            out_of_work = deterministic and work_left <= finish_work
            if finish and (out_of_work or left < 0.05 + finish_seconds) and not stop():
                # Chains alone over every agent until a round finds nothing,
                # then sub-problems again for whatever time that leaves: on
                # large-0 the first such round found nothing, and stopping
                # there ended a 10 s solve at 8.9 s.
                drain()
                if np.isfinite(best_value):
                    chain_round(rounds=1000)
                finish, finish_seconds, finish_work = False, 0.0, 0.0
                continue
            if out_of_work:
                break
            if left < 0.05 or stop():
                # On one thread the work budget should end the search; the clock
                # ending it first means the run may not repeat.
                wall_limited = deterministic and left < 0.05
                break
            if pool is None:
                job = build(left)
                if job is None:
                    break
                steps += 1
                settle(job, job.run())
                continue
            # With more threads, one sub-problem per thread is always being
            # solved: a new one is built, from the best so far, as soon as a
            # thread comes free, rather than every thread waiting for the
            # slowest and for the Python work between rounds.
            while len(running) < threads:
                job = build(left)
                if job is None:
                    break
                running[pool.submit(_Job.run, job)] = job
                steps += 1
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                settle(running.pop(future), future.result())
    finally:
        if pool is not None:
            drain()
            pool.shutdown(wait=True)
    stats: dict[str, float] = {
        "lns_steps": steps,
        "lns_improvements": improved,
        "lns_agents": k,
        "chain_moves": chain_moves,
    }
    if wall_limited:
        stats["wall_limited"] = 1
    return best, stats


def _seed_agents(
    p: AssignmentProblem,
    assignment: np.ndarray,
    index: _Index,
    busy: np.ndarray,
    taken: np.ndarray,
    k: int,
    rng: np.random.Generator,
    moved_share: float = MOVED_SHARE,
) -> tuple[np.ndarray, int | None]:
    """Agents to build a neighbourhood around, and the item it is for, if any.

    ``moved_share`` of the time (where items have incumbents), an item
    moved from its incumbent: that agent and its current one
    (:func:`_moved_seeds`). Otherwise, half the time, the agents able to take
    a costly left-out item (up to ``k`` of them), so a statutory or red case
    is offered to everyone who could hold it at once; else one free agent.
    Agents ``busy`` and items ``taken`` in sub-problems being solved are
    passed over.
    """
    free = np.flatnonzero(~busy)
    if free.size == 0:
        return free, None
    if index.home is not None and p.incumbent is not None and rng.random() < moved_share:
        seeds = _moved_seeds(p, assignment, p.incumbent, index.home, busy, rng)
        if seeds is not None:
            return seeds, None
    left_out = np.flatnonzero((assignment == UNASSIGNED) & index.options & ~taken)
    if left_out.size and rng.random() < 0.5:
        weights = p.skip_cost[left_out]
        item = int(rng.choice(left_out, p=weights / weights.sum()))
        cand = p.pair_agent[index.item_pairs(np.array([item]))]
        cand = cand[~busy[cand]]
        if cand.size:
            return np.sort(rng.choice(cand, size=min(k, cand.size), replace=False)), item
    return np.array([int(rng.choice(free))]), None


def _moved_seeds(
    p: AssignmentProblem,
    assignment: np.ndarray,
    incumbent: np.ndarray,
    home: np.ndarray,
    busy: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """The incumbent and the current agent of an item moved from its incumbent.

    Drawn with weight what bringing it back would save on its own
    (:math:`c_{\\text{now}} - c_{\\text{home}}`, the continuity term mostly),
    among the items that could go back (``home`` is their pair with the
    incumbent, ``-1`` if none) whose two agents are not ``busy``. The incumbent
    comes first: the neighbourhood grows from the agents sharing its
    candidate items, those that could take what it holds instead. ``None`` if
    there is no such item.
    """
    moved = np.flatnonzero((home >= 0) & (assignment != UNASSIGNED) & (assignment != incumbent))
    if moved.size == 0:
        return None
    now, back = assignment[moved], incumbent[moved]
    only = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
    only[moved] = now
    saving = p.pair_cost[p.pairs_of(only)] - p.pair_cost[home[moved]]
    ok = (saving > 0) & ~busy[now] & ~busy[back]
    if not ok.any():
        return None
    j = int(rng.choice(np.flatnonzero(ok), p=saving[ok] / saving[ok].sum()))
    return np.array([int(back[j]), int(now[j])])
