"""Solve an instance: compile, construct, optimise, and explain the result."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from caseload.compile import Compiled, compile_instance
from caseload.data import Instance
from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.result import Result, evaluate, moves_of, unallocated_reasons, worker_rows
from caseload.solvers.base import Progress, SolverOutput
from caseload.solvers.greedy import greedy, make_room
from caseload.solvers.lp import LPSolution, solve_lp
from caseload.solvers.repair import place_urgent

if TYPE_CHECKING:
    from caseload.solvers.lagrangian import CapacityLagrangian
    from caseload.solvers.targets import TargetProof

logger = logging.getLogger("caseload")

#: Seconds kept back from the time limit for explaining and writing the result.
_RESERVE = 0.5

#: Seconds of a one-thread solve not counted in deterministic work (compiling,
#: building models in Python), kept out of its work budget.
_OVERHEAD = 0.5

#: Seconds per pair of a one-thread solve's Python work outside the deterministic
#: time: on medium-1 (56,699 pairs) given 5 s, on a slow machine, compiling,
#: the statutory repair's model loads, the priced start and the polish took
#: 1.3 s, and runs cut by the clock differed.
PY_SECONDS_PER_PAIR = 2e-5
#: ... but at most this share of the time (a county's 1.5 million pairs would
#: otherwise leave no work at all at 30 s).
PY_MAX_SHARE = 0.5

#: The least one-thread work for placing the statutory cases first (medium-1
#: given 3 s needs about 0.08 units to place them all).
URGENT_MIN_WORK = 0.1

#: Seconds per item to explain and write the result, kept back where they pass
#: :data:`_RESERVE`: a county's 15,000 cases took 0.7-0.9 s.
_RESULT_SECONDS_PER_ITEM = 6e-5


def solve(
    instance: Instance,
    *,
    time_limit: float = 10.0,
    seed: int = 0,
    threads: int = 2,
    progress: Callable[[Progress], bool | None] | None = None,
    log: bool = False,
    max_moves: int | None = None,
    stop: Callable[[], bool] | None = None,
    start: Result | Mapping[str, str | None] | None = None,
    work: float | None = None,
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
        Called with each improving solution: a
        :class:`~caseload.solvers.base.Progress` with the seconds since the
        solve began (after compiling the instance), the best objective and
        the best bound so far; return ``True`` to stop early. With
        ``max_moves`` the bound is ``None`` (see there).
    log
        Print the solver's search log.
    max_moves
        Daily, incremental use: keep every case with its ``current_worker``
        except at most this many (beyond those that must move because their
        worker has left or is no longer eligible), and place the cases that
        have no current worker. Much faster than a full solve (about a
        second on a city authority: with ``max_moves=0`` one exact solve,
        usually well under a second; with moves allowed, the search for room
        uses the time limit), but the result carries no bound over all
        allocations: it is the best found within the moves allowed.
    stop
        Polled while solving; return ``True`` to cancel. The best allocation
        found so far is returned (never a partial one).
    start
        A warm start: an allocation (or result) of this instance, used where it
        satisfies the hard constraints and beats the built-in construction.
        Sweeps (trade-off curves, scenarios) pass the previous answer here.
    work
        With ``threads=1``: the search budget in deterministic work (about
        seconds of one core on a typical machine), replacing the default of
        0.4 per second of ``time_limit``; the time limit then only guards.
        The same ``work`` and ``seed`` give the same allocation on any machine.

    Returns
    -------
    Result
        Always an allocation that satisfies every hard constraint: at worst the
        greedy one, which itself starts from the pinned closure.

    Raises
    ------
    ValueError
        If ``time_limit`` is not a finite number above zero (NaN would never
        end), ``threads`` is below one or ``seed`` below zero.
    """
    started = time.perf_counter()
    if not (math.isfinite(time_limit) and time_limit > 0):
        raise ValueError(f"time_limit must be a finite number of seconds > 0, got {time_limit}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    compiled = compile_instance(instance)
    problem = compiled.problem
    logger.debug(
        "compiled %d items, %d agents, %d pairs in %.2f s",
        problem.num_items,
        problem.num_agents,
        problem.num_pairs,
        time.perf_counter() - started,
    )
    # One thread: from the time limit as given, not what compiling left of it,
    # so that runs repeat exactly.
    if work is None and threads == 1:
        work = default_work(time_limit, problem.num_pairs)
    if max_moves is not None:
        output = _incremental(
            compiled, max_moves, started + time_limit, seed, threads, stop, work, progress
        )
    else:
        output = solve_problem(
            problem,
            time_limit=time_limit - (time.perf_counter() - started),
            seed=seed,
            threads=threads,
            progress=progress,
            log=log,
            stop=stop,
            initial=None
            if start is None
            else compiled.item_assignment(start.allocation if isinstance(start, Result) else start),
            work=work,
        )
    assert output.assignment is not None  # a valid instance always has one
    result = build_result(compiled, output, time.perf_counter() - started)
    # Counts and ids only: the logs of a service may travel further than its data.
    logger.debug(
        "%s: %s, objective %.6g, bound %s, %d allocated, %d unallocated, %d moves, %.2f s",
        output.statistics.get("strategy"),
        result.status,
        result.objective["total"],
        "none" if result.bound is None else f"{result.bound:.6g}",
        len(result.assignments),
        len(result.unallocated),
        len(result.moves),
        result.runtime_seconds,
    )
    for move in result.moves:
        logger.debug("moved %s: %s -> %s", move.case, move.from_worker, move.to_worker)
    if stop is not None and stop():
        logger.debug("cancelled by the caller; returning the best allocation so far")
    return result


def _incremental(
    compiled: Compiled,
    max_moves: int,
    deadline: float,
    seed: int,
    threads: int,
    stop: Callable[[], bool] | None,
    work: float | None = None,
    progress: Callable[[Progress], bool | None] | None = None,
) -> SolverOutput:
    """Re-optimise around the current workers (see :mod:`caseload.solvers.incremental`)."""
    from caseload.solvers.incremental import Moves, reoptimise

    if max_moves < 0:
        raise ValueError("max_moves must be at least 0")
    p = compiled.problem
    index = {w.id: j for j, w in enumerate(compiled.instance.workers)}
    has_current = np.array(
        [c.current_worker in index for c in compiled.instance.cases], dtype=float
    )
    held = np.bincount(compiled.item_of_case, weights=has_current, minlength=p.num_items)
    kept = p.pair_usage[1] - p.pair_usage[2]  # members already with the pair's worker
    moves = Moves(pair=held[p.pair_item] - kept, skip=held)
    return reoptimise(
        p,
        moves,
        max_moves=max_moves,
        # Explaining a result takes a few hundredths of a second on a city
        # authority; the full reserve would halve a one-second budget.
        deadline=deadline - 0.3 * _RESERVE,
        seed=seed,
        threads=threads,
        stop=stop,
        work=work,
        progress=progress,
    )


#: Deterministic-time budget per wall-clock second on one thread, set low enough
#: that the deterministic limit, not the clock, ends the search on most machines.
DETERMINISTIC_SHARE = 0.3

#: The LP's share of a one-thread plan (GLOP's deterministic time).
LP_SHARE = 0.8

#: One thread, where the LP would not finish in its share (see
#: :func:`_lp_work`): the smoothed ascent's share of the plan instead, and the
#: main search's. Medium-0/1 given 10 s, seed 0, on a slow machine: the LP
#: cut by its share and the search by the clock, 947,010 / 667,423 (bounds
#: 125,131 / 415,975), runs differing; this 655,188 / 469,803 (bounds 547,994
#: / 401,933) and medium-2 501,620 (431,747), in 5.3-6.8 s.
SKIPPED_LP_SMOOTH_SHARE = 0.35
SKIPPED_LP_SEARCH_SHARE = 0.4
#: Two threads, where the LP is skipped (a city authority at short limits):
#: the smoothed ascent sums over this many pairs per pair of the problem, in
#: at most SKIPPED_LP_SMOOTH_CAP of the time left, rather than over a share of
#: the time. Alone on two threads it converges in about 4e7 pairs (medium-0/1/2:
#: 549,638 / 402,852 / 433,097 at 4e7, 550,239 / 402,869 / 433,345 when
#: converged), 2.2-2.8 s on this machine at its usual speed; with 0.3 of the
#: time the machine's slower minutes left it short (medium-1 bounds of 162,399-
#: 402,863 and priced starts of 1.6-9.7 million). Medium at 10 s, seeds 11-22,
#: interleaved, time share -> this: mean objectives 612,246 / 457,679 / 473,997
#: -> 610,159 / 453,637 / 473,959, mean gaps 11.56 / 16.87 / 10.37% -> 9.97 /
#: 13.72 / 8.75%.
SKIPPED_LP_SMOOTH_PASSES = 700.0
SKIPPED_LP_SMOOTH_CAP = 0.45
#: Pairs the smoothed ascent sums over per unit of one-thread work on a city
#: authority (about 1.4e7 a second on medium-1 on a slow machine).
CITY_PAIRS_PER_WORK = 4e7

#: Two threads: the LP is not started where its estimated work
#: (:func:`_lp_work`) passes this many units per second of the time limit.
#: Medium-0/1/2 given 10 s, seeds 0-2, on a slow machine, with the LP
#: 746,892 / 672,046 / 743,138, 478,338 / 514,448 / 517,796, 581,045 /
#: 590,293 / 548,836; without it (the smoothed ascent, its settled priced
#: start, the statutory repair) 607,294 / 616,298 / 614,042, 447,443 / 448,954 /
#: 448,602, 472,613 / 470,373 / 474,349. At 30 s, seed 0, the objectives were
#: within 1.2% either way but the LP's bounds 2-3% higher, so it keeps the LP
#: (medium's LPs are estimated at 2.5-3.6 units, large ones' at 0.4-0.6).
LP_WORK_PER_SECOND = 0.15

#: Rough cost of building and solving the LP, per pair (measured: about 1 s
#: for 70,000 pairs, 4 s for 240,000 on one core).
LP_SECONDS_PER_PAIR = 2e-5
#: Past this many pairs the simplex slows down much faster than linearly: on a
#: county (1.56 million pairs) GLOP did not finish in 270 s, and took 170 s on
#: 290,000 of its pairs, so the estimate grows with the square beyond it.
LP_LINEAR_PAIRS = 250_000


def _lp_seconds(pairs: int) -> float:
    """Estimated wall time of the LP relaxation on one core."""
    return pairs * LP_SECONDS_PER_PAIR * max(1.0, pairs / LP_LINEAR_PAIRS) ** 2


#: GLOP's deterministic time to finish the LP from a start, per pair and per
#: pair of the items the start leaves out (their pairs, about
#: ``pairs / items`` each, are where the simplex pivots). Fitted on the LP's
#: need (bisected to 0.1 units) from the greedy start: small-0/1 0.06 / 0.12,
#: medium-0/1/2 3.00 / 2.25 / 3.62 (385-473 items out), large-0/1/2 0.50 /
#: 0.50 / 0.38 (2-12 out); the estimate is within about 30% of each.
LP_WORK_PER_PAIR = 3e-6
LP_WORK_PER_OUT_PAIR = 2e-4


def _lp_work(problem: AssignmentProblem, start: np.ndarray | None) -> float:
    """Estimated deterministic work for GLOP to finish the LP from ``start``."""
    options = np.diff(problem.item_start) > 0
    out = int(np.sum(options if start is None else options & (start == UNASSIGNED)))
    per_item = problem.num_pairs / max(1, problem.num_items)
    return LP_WORK_PER_PAIR * problem.num_pairs + LP_WORK_PER_OUT_PAIR * out * per_item


#: Above this many pairs large-neighbourhood search over exact sub-problems
#: does better than CP-SAT on the full model. The OR-Library GAPs (up to 4,000
#: pairs) need CP-SAT for their proofs; a small authority (about 8,000 pairs)
#: is far from proved by it: 10 s, seeds 0/1, full model then search (see
#: SWITCH_GAP) -> search alone: small-0 3,065,778 / 3,066,390 -> 3,064,426 /
#: 3,065,587, small-1 83,702 / 83,250 -> 82,306 / 83,109, small-2 131,218 /
#: 130,801 -> 130,610 / 130,626; on one thread (the CI gate) the full model
#: alone left 7 statutory cases out on small-0 where the search leaves 3 (the
#: fewest found, 0.13% above the bound), and small-1 116,590 -> 89,988.
FULL_MODEL_PAIRS = 5_000

#: Below it, CP-SAT on the full model hands over to the search if, after this
#: share of its time, its gap is still above SWITCH_GAP (two or more threads;
#: one thread keeps to CP-SAT, whose deterministic limit makes runs repeat).
#: The OR-Library GAPs it proves in 15 s are within 0.5% by a third of it
#: (c20200: 0.50% at 4.5 s); tight GAPs of types D and E stay at 1.1-1.4%.
#: 15 s, before -> after: d20x200 12,345 -> 12,266, e20x200 22,670 -> 22,630
#: (and, while FULL_MODEL_PAIRS was 20,000, d40x400 24,533 -> 24,453, e40x400
#: 44,872 -> 44,863; small authorities at 10 s, seeds 0/1: small-1 118,895 /
#: 108,205 -> 83,728 / 83,273). At 30% and 0.75% it also gave up on c20200.
SWITCH_SHARE = 0.5
SWITCH_GAP = 0.01

#: A GAP (integer costs and capacities, every job placed) that CP-SAT has not
#: proved after this share of its time goes to the target proofs of
#: :mod:`caseload.solvers.targets`; all but two of the 138 OR-Library problems
#: are proved before. c10200 / c20200 at 15 s: CP-SAT alone proved them in 2
#: of 4 seeds each (at 11-17 s); the targets prove them about 2.5 s after the hand-over.
TARGETS_AFTER = 0.15

#: The share of the time left that the smoothed Lagrangian ascent gets where the
#: whole LP would not finish (a county); it stops sooner once converged. County
#: at 30 s, 2 threads, interleaved, seeds 0, 1 and 4, 0.4 -> 0.3: lower in 8 of
#: 9 runs (county-0 560,154 / 554,357 / 556,064 -> 553,207 / 554,937 / 547,732;
#: county-1 422,500 / 429,399 / 420,218 -> 408,171 / 408,486 / 410,225; county-2
#: 560,360 / 554,871 / 552,834 -> 543,964 / 543,412 / 541,088), bounds 2-5% lower
#: (501,345 / 311,011 / 432,116 -> 487,883 / 295,051 / 412,713 on seed 4). At 0.2
#: county-1's ascent never beat zero prices (222,385) and the search, steered
#: by them, ended at 517,709 / 528,024.
SMOOTH_SHARE = 0.3
#: The ascent gets this share more when no stage has beaten its start (zero
#: prices) by the end of its own (see ``grace`` in
#: :meth:`~caseload.solvers.lagrangian.CapacityLagrangian.smooth_ascent`). A
#: county given 20 s is near that edge: county-1 at 0.4 ended at zero prices in
#: one of five runs (583,675 against 426,196-441,974). On a slower machine
#: (the ascent's first stage to beat zero prices ends 11-14 s in) the county
#: at 30 s, seeds 1-3, with the settled priced start, 0.1 -> 0.2: bounds
#: higher in 8 of 9 runs, objectives' mean 557,120 -> 547,140 (county-1 seed 3
#: 603,215 at zero prices -> 487,312).
SMOOTH_GRACE = 0.2

#: A tight problem (every item must be placed, and the greedy cannot place
#: them all: a GAP of type D or E) whose LP would take more than
#: TIGHT_LP_SHARE of the time first gets up to TIGHT_SMOOTH_SHARE of it for the
#: smoothed ascent; each item's cheapest pair at its prices is the start, and
#: the LP, if it still fits, begins from that start rather than from nothing.
#: e80x1600 (2 threads; from the greedy start, then with the ascent):
#: 2 s 300,702 -> 207,133; 3 s 233,487 -> 198,005; 5 s 270,583 -> 185,152;
#: 7 s 234,886 -> 180,546 (the LP from the priced start takes 3.6 s, from
#: nothing it was abandoned); 10 s 179,684 -> 179,155-179,552; 15 s 178,545 ->
#: 178,507-178,770. d80x1600 at 3 s 103,888 -> 100,359. Below the share (a
#: 20 x 300 problem, whose LP is quick) the ascent's time was lost to the
#: search: 2 s, seeds 5-7, 0.47-0.83% above the bound without, 0.59-0.97% with.
#: Through the CLI with the final code: 5 s 182,476, 10 s 178,954.
TIGHT_SMOOTH_SHARE = 0.25
TIGHT_LP_SHARE = 0.1
#: One thread: pairs the tight problem's ascent sums over per unit of
#: deterministic work. A unit is about 3.3 s of the plan; one thread sums
#: 4.2-6.2e7 pairs a second on e80x1600, d80x1600 and e40x400, so a unit of
#: the ascent ends in about 2 s. (Counting steps instead undercounted short
#: runs, whose working sets are small: e80x1600 at 2 s stopped after 23
#: steps and 0.05 s, its bound 33,660, where 0.25 s reaches 177,170.)
TIGHT_PAIRS_PER_WORK = 1.5e8
#: The main search's share of a one-thread plan after a GAP's LP. CP-SAT's
#: deterministic time runs about twice as fast per second on a GAP's
#: sub-problems as on a city authority's, so the fifth set for a city ended a
#: 40 x 400 GAP given 10 s after about 1 s. One thread, before -> after:
#: d40x400 at 5 s 24,534 -> 24,392, e40x400 45,836 -> 45,666, d80x1600 at 10 s
#: 97,412 -> 97,327 (6.9 s). At 0.6 a little better again, but 7.4 s of 10.
GAP_SEARCH_SHARE = 0.4

#: Below this many seconds for the ascent the search from the greedy does
#: better. Measured at a share of 0.3: a large authority given 2 s (0.45 s of
#: ascent), seeds 0-2: 46,488 / 46,277 / 62,686 from the greedy, 46,669 /
#: 48,861 / 63,665 from the prices. A county given 10 s, seeds 0/1: 833,771 /
#: 844,371 from the greedy; from the prices 773,627 / 782,708 (share 0.3) and
#: 780,422 / 754,027 (0.4, searching the pairs cheap at them), its exact bound
#: still below zero prices' there.
SMOOTH_MIN_SECONDS = 2.0

#: Share of the pairs the main search draws its neighbourhoods from, once the LP
#: is solved: those cheapest at its prices relative to their item's cheapest.
#: Measured from the LP's rounding, 5 s on 2 threads, mean of 3 seeds: medium-1
#: 477,930 -> 459,377, medium-0 654,740 -> 647,862, large-2 60,721 -> 60,410,
#: large-0 42,570 -> 42,462 (keeping instead each item's 4 cheapest pairs
#: helped large-2 in some runs and hurt medium-0 by 4%).
PRICED_SHARE = 0.2


#: The settled rounding's second LP (the statutory items fixed; see
#: :func:`_urgent_fixed`) may take this share of the time left; it ends when
#: done, so the share matters only where it is slow. On a machine where the
#: first LP took 5.8 / 4.2 / 6.4 s (medium-0/1/2, from the statutory-first
#: start) the second took 1.2 / 0.8 / 2.0 s, and its rounding after the
#: statutory repair was worth 699,968 / 497,415 / 537,913 against the plain
#: rounding's 765,982 / 545,134 / 565,561. At 10 s, seeds 0-2, interleaved,
#: share 0.3 -> 0.6 -> 0.8: it finished on medium-0 in 0 / 3 / 3 runs and on
#: medium-2 in 0 / 1 / 3; mean objectives medium-0 655,050 -> 625,554 ->
#: 626,615, medium-2 529,075 -> 520,622 -> 492,257. On seeds 3-4 the machine
#: was faster and 0.3 sufficed in 3 of 4 (no difference beyond the noise of
#: single runs: medium-0 605,551 and 628,686 with the same path taken).
SETTLE_SHARE = 0.8

#: The LP-guided search ends after this many fruitless sub-problems at the
#: largest size, leaving its time to the search over the whole problem. On
#: large-2 it had spent 2.5 s of a 10 s solve on 198 sub-problems for one
#: improvement. Side by side at 10 s, mean of 2 seeds, without -> with:
#: large-2 61,003 -> 60,407, medium-0 657,347 -> 644,291, medium-1 461,956
#: -> 456,650, large-0 42,314 -> 42,314, large-1 45,374 -> 45,385.
GUIDED_PATIENCE = 40

#: The LP-guided search's share of the time left after the roundings. From the
#: settled rounding, 10 s, seeds 0-3 interleaved, mean, medium-0/1/2: 0.25 618,663 /
#: 449,001 / 484,470; 0.4 624,555 / 449,335 / 485,054; 0.55 618,661 / 452,285 /
#: 483,104 (within the noise of such runs).
GUIDED_SHARE = 0.4

#: Left-out cases offered per freed worker in the search after the smoothed
#: ascent (a county), where the search waits on CP-SAT for most of its time and
#: smaller sub-problems make more steps. County at 30 s, 20 -> 10, seeds 0-3:
#: lower in 10 of 12 runs, means county-0 553,241 -> 549,015, county-1 408,962
#: -> 404,381, county-2 542,947 -> 541,185. On medium and large authorities
#: (10 s, seeds 0-2) 10 was no better (means medium-0 598,794 -> 602,193,
#: large-1 45,195 -> 45,241), so they keep the search's default of 20.
SMOOTHED_FREE_PER_AGENT = 10

#: Most workers freed at once in the search after the smoothed ascent (a
#: county). The search grows its neighbourhoods while CP-SAT proves two in
#: three of them, which on a county settles at 11-17 workers; after 15 s of
#: county-1 (30 s, seed 0) those steps gained at most 3,400 per second of
#: CP-SAT, against 4,000-12,000 for steps of 6-10 workers. At 30 s, seeds 0-4,
#: 30 -> 10: lower in 11 of 15 runs, means county-0 554,055 -> 549,708,
#: county-1 407,252 -> 401,381, county-2 538,833 -> 539,626 (8 and 12 on seeds
#: 3-4 were no better than 10).
SMOOTHED_MAX_AGENTS = 10

#: Share of the search's neighbourhoods built around a case moved from its
#: current worker, after the smoothed ascent (a county; 0.25 elsewhere, see
#: :data:`~caseload.solvers.lns.MOVED_SHARE`). What a county's 300 s run adds
#: to its 30 s is mostly children back with their workers and more cases
#: placed (county-1: 65 fewer moved, 21 fewer out, travel the same). At 30 s,
#: seeds 0-5, 0.25 -> 0.4 (with at most 10 workers freed): lower in 12 of 18
#: runs, means county-0 551,712 -> 549,292, county-1 403,018 -> 401,020,
#: county-2 538,332 -> 534,842.
SMOOTHED_MOVED_SHARE = 0.4


def default_work(time_limit: float, pairs: int = 0) -> float:
    """The deterministic budget of a one-thread solve of ``pairs`` pairs given
    ``time_limit`` seconds.

    Set so that the whole search ends well inside the limit on a two-core CI
    machine (measured on a loaded one: about 80% of a 10 s limit on a city
    authority), leaving the clock as a guard that should never fire. The
    Python work of the phases (building models, the statutory repair's model
    loads, the roundings) is not in the deterministic time; it grows with the
    pairs (:data:`PY_SECONDS_PER_PAIR`) and comes off the time first.
    """
    spare = time_limit - _reserve(time_limit) - _OVERHEAD
    python = min(PY_SECONDS_PER_PAIR * pairs, PY_MAX_SHARE * spare)
    return DETERMINISTIC_SHARE * max(0.0, spare - python)


def _reserve(time_limit: float, items: int = 0) -> float:
    """Seconds kept back from ``time_limit`` for the result: :data:`_RESERVE`, or
    :data:`_RESULT_SECONDS_PER_ITEM` per item where more (a county), or a quarter
    of a short limit (medium-0 given 0.5 s kept nothing for the statutory
    repair, so three cases stayed out, and it ran 0.6 s over)."""
    return min(max(_RESERVE, _RESULT_SECONDS_PER_ITEM * items), 0.25 * time_limit)


def solve_problem(
    problem: AssignmentProblem,
    *,
    time_limit: float,
    seed: int = 0,
    threads: int = 2,
    progress: Callable[[Progress], bool | None] | None = None,
    log: bool = False,
    strategy: str = "auto",
    stop: Callable[[], bool] | None = None,
    initial: np.ndarray | None = None,
    work: float | None = None,
) -> SolverOutput:
    """Solve the core problem within ``time_limit`` seconds.

    Strategies: ``"cpsat"`` (the full model, warm-started from the greedy
    assignment; proves optimality on small problems), ``"lns"`` (greedy; the
    LP relaxation, whose prices give the Lagrangian bound and whose integral
    part, completed greedily, a better start; then large-neighbourhood search
    with exact CP-SAT sub-problems), ``"greedy"`` (the construction alone), or ``"auto"``
    (``cpsat`` up to :data:`FULL_MODEL_PAIRS` pairs, ``lns`` above; with two
    or more threads ``cpsat`` hands its best allocation to the ``lns`` steps
    if still more than :data:`SWITCH_GAP` from a proof after
    :data:`SWITCH_SHARE` of its time). The
    returned bound is valid and at most the returned objective. ``initial``
    is a warm start, used (completed greedily) where it is feasible and beats
    the greedy construction.

    With one thread the solve is reproducible: every phase is limited in
    deterministic work (CP-SAT's and GLOP's deterministic time, iteration
    counts), ``work`` in all (by default :data:`DETERMINISTIC_SHARE` per
    second of ``time_limit``), split between phases in fixed shares. The
    wall clock then only guards the time limit; should it cut a phase (a
    machine far slower than expected), ``statistics["wall_limited"]`` says so.
    """
    from caseload.solvers.cpsat import solve_cpsat
    from caseload.solvers.lagrangian import CapacityLagrangian
    from caseload.solvers.targets import applies as targets_apply
    from caseload.solvers.targets import promising as targets_promising

    started = time.perf_counter()
    deadline = started + time_limit - _reserve(time_limit, problem.num_items)
    budget = deadline - started
    if progress is not None:
        # A progress callback's True cancels the whole solve, as ``stop`` does,
        # not only the phase that happened to report.
        halted = threading.Event()
        progress = _as_one_solve(progress, started, halted)
        asked = stop
        stop = halted.is_set if asked is None else (lambda: halted.is_set() or asked())
    # One thread: the whole budget in deterministic work, fixed whatever the clock says.
    # :func:`solve` charges an authority's Python work per pair (mostly the
    # statutory phase's model loads); a bare core problem such as a GAP has no
    # such phase, so its default plan charges none.
    plan = None if threads > 1 else (work if work is not None else default_work(time_limit))
    automatic = strategy == "auto"
    if automatic:
        strategy = "cpsat" if problem.num_pairs <= FULL_MODEL_PAIRS else "lns"
    start = greedy(problem)
    must = ~np.isfinite(problem.skip_cost)
    if initial is not None and not problem.violations(initial):
        # The caller's warm start, completed greedily where it left room.
        warm = greedy(problem, initial)
        warm_ok = not problem.violations(warm) and bool(np.all(warm[must] != UNASSIGNED))
        if warm_ok and problem.objective(warm) < problem.objective(start):
            start = warm
    start_ok = not problem.violations(start) and bool(np.all(start[must] != UNASSIGNED))
    stats: dict[str, object] = {
        "strategy": strategy,
        "greedy_objective": problem.objective(start) if start_ok else None,
    }
    if np.any(must & (np.diff(problem.item_start) == 0)):
        # An item that must be placed and fits nowhere (a GAP job heavier than
        # every capacity): proved infeasible. The search would only have
        # reported that it found nothing.
        return SolverOutput(None, None, "none", infeasible=True, statistics=stats)

    if strategy == "greedy":
        lag = CapacityLagrangian(problem)
        # A tenth of the budget: the greedy is asked for because it is quick.
        bound = lag.ascend(
            problem.objective(start),
            seconds=max(0.0, min(0.1 * budget, deadline - time.perf_counter())),
            iterations=_iterations(plan),
        )
        return _finish(problem, [(start, False)] if start_ok else [], bound, "lagrangian", stats)

    if start_ok and time.perf_counter() >= deadline:
        # Compiling and the greedy took the time (a county given 2 s): anything
        # more would only overrun the limit.
        stats["wall_limited"] = 1
        return _finish(problem, [(start, False)], None, "none", stats)
    run = _Run(seed, threads, deadline, budget, progress, stop, plan)
    if strategy == "lns" and not start_ok:
        return _soft_search(problem, stats, run)

    if strategy == "cpsat" or not start_ok:
        # A small problem's LP is quick, and its prices often bound better than
        # CP-SAT manages in the time left.
        priced = _priced_bound(
            problem,
            deadline if plan is not None else time.perf_counter() + 0.1 * budget,
            work=None if plan is None else 0.1 * plan,
        )
        share = 1.0 if strategy == "cpsat" else 0.3
        seconds = max(0.05, share * (deadline - time.perf_counter()))
        if plan is not None:
            seconds = max(0.05, deadline - time.perf_counter())
        cp_work = None if plan is None else share * 0.85 * plan
        proof = None
        if (
            automatic
            and strategy == "cpsat"
            and priced is not None
            and targets_apply(problem)
            and targets_promising(problem, priced[2])
        ):
            done, hint, proof, used = _targets_first(
                problem, start if start_ok else None, priced[2], stats, run, seconds, cp_work
            )
            if done is not None:
                return done
            if hint is not None:
                start, start_ok = hint, True
            seconds = max(0.05, deadline - time.perf_counter())
            cp_work = None if cp_work is None else max(0.001, cp_work - used)
        gave_up = threading.Event()
        switch_at = time.perf_counter() + SWITCH_SHARE * seconds

        def give_up(objective: float, bound: float) -> bool:
            far = objective - bound > SWITCH_GAP * max(1.0, abs(objective))
            if time.perf_counter() >= switch_at and far:
                gave_up.set()
            return gave_up.is_set()

        out = solve_cpsat(
            problem,
            time_limit=seconds,
            seed=seed,
            threads=threads,
            hint=start if start_ok else None,
            progress=progress,
            log=log,
            # One thread is reproducible only under a deterministic limit.
            work_limit=cp_work,
            stop=stop,
            # One thread keeps to CP-SAT, whose deterministic limit makes runs
            # repeat; so does a caller who asked for CP-SAT by name.
            give_up=give_up if automatic and strategy == "cpsat" and plan is None else None,
        )
        # Deterministic time wobbles in its last digits from run to run.
        stats.update({k: v for k, v in out.statistics.items() if k != "deterministic_time"})
        found = [(out.assignment, out.proved_optimal)] if out.assignment is not None else []
        if start_ok:
            found.append((start, False))
        if strategy == "cpsat" or not found:
            proved, source = out.bound, out.bound_source
            if priced is not None and (proved is None or priced[0] > proved):
                proved, source = priced[0], priced[1]
            if proof is not None and (proved is None or proof.bound > proved):
                proved, source = proof.bound, "targets"
            if (
                gave_up.is_set()
                and out.assignment is not None
                and not out.proved_optimal
                and not (stop and stop())
            ):
                # Far from proved by now (a tight GAP): the search does better
                # with the rest of the time, from CP-SAT's best.
                stats["cpsat_gave_up"] = True
                searched = _by_search(
                    problem,
                    out.assignment,
                    stats,
                    replace(run, budget=deadline - time.perf_counter()),
                )
                if searched.assignment is not None:
                    found.append((searched.assignment, False))
                if searched.bound is not None and (proved is None or searched.bound > proved):
                    proved, source = searched.bound, searched.bound_source
                return _finish(problem, found, proved, source, stats)
            if out.assignment is not None and not out.proved_optimal:
                # Unproved: a case with room and a gain could still be waiting.
                found.append((_polish(problem, out.assignment, deadline), False))
            return _finish(problem, found, proved, source, stats, out.infeasible)
        start = min(found, key=lambda f: problem.objective(f[0]))[0]

    return _by_search(problem, start, stats, run)


def _targets_first(
    problem: AssignmentProblem,
    start: np.ndarray | None,
    lam: np.ndarray,
    stats: dict[str, object],
    run: _Run,
    seconds: float,
    work: float | None,
) -> tuple[SolverOutput | None, np.ndarray | None, TargetProof | None, float]:
    """A GAP: CP-SAT for a short while, then the target proofs if it has not proved it.

    Returns the finished output if either proved optimality (or infeasibility);
    otherwise the best allocation so far (CP-SAT goes on from it), what the
    targets proved, and the deterministic work spent (one-thread runs).
    """
    from caseload.solvers.cpsat import solve_cpsat
    from caseload.solvers.targets import prove

    first = solve_cpsat(
        problem,
        time_limit=TARGETS_AFTER * seconds,
        seed=run.seed,
        threads=run.threads,
        hint=start,
        progress=run.progress,
        work_limit=None if work is None else TARGETS_AFTER * work,
        stop=run.stop,
    )
    used = float(first.statistics.get("deterministic_time", 0.0))
    found = [
        (a, proved)
        for a, proved in [(first.assignment, first.proved_optimal), (start, False)]
        if a is not None
    ]
    if first.proved_optimal or first.infeasible:
        return (
            _finish(problem, found, first.bound, first.bound_source, stats, first.infeasible),
            None,
            None,
            used,
        )
    if not found:
        return None, None, None, used
    best = min((a for a, _ in found), key=problem.objective)
    value = problem.objective(best)
    proof = prove(
        problem,
        lam,
        value,
        # Half of what is left at most: if the targets stall, CP-SAT goes on.
        deadline=time.perf_counter() + 0.5 * (run.deadline - time.perf_counter()),
        threads=run.threads,
        seed=run.seed,
        # One thread: the masters may use as much work again as the whole plan
        # (c10200 at 10 s needs 2.5 of its 2.7), so the run overshoots the plan
        # by at most the first CP-SAT slice; the plan is set well inside the clock.
        work=run.plan,
        stop=run.stop if run.stop is not None else lambda: False,
    )
    stats["targets"] = proof.statistics
    used += float(proof.statistics.get("work", 0.0))
    if proof.assignment is not None:
        return (
            _finish(
                problem, [(proof.assignment, True), (best, False)], proof.bound, "targets", stats
            ),
            None,
            proof,
            used,
        )
    if proof.bound >= value - 1e-9:
        return _finish(problem, [(best, True)], proof.bound, "targets", stats), None, proof, used
    return None, best, proof, used


@dataclass(frozen=True)
class _Run:
    """How a search runs: its seed, threads, clock and budgets, progress and cancel hooks.

    ``deadline`` is a ``perf_counter`` time, ``budget`` the seconds it allowed
    at the start, ``plan`` the one-thread deterministic work (``None`` with more
    threads).
    """

    seed: int
    threads: int
    deadline: float
    budget: float
    progress: Callable[[Progress], bool | None] | None
    stop: Callable[[], bool] | None
    plan: float | None


def _soft_search(problem: AssignmentProblem, stats: dict[str, object], run: _Run) -> SolverOutput:
    """Search a large problem whose must-assign items the greedy cannot all place.

    Tight generalised assignment problems (every job must go somewhere) are like
    this. Leaving a must-assign item out is allowed at a cost above any
    allocation's (``soft``), so the search has a start and the usual
    pipeline drives the number left out to zero. The soft problem relaxes
    the real one, so its bound is valid for it; its allocation is returned
    only if it places every must-assign item.
    """
    must = ~np.isfinite(problem.skip_cost)
    spread = np.abs(problem.pair_cost).sum() + np.abs(problem.skip_cost[~must]).sum()
    big = 10.0 ** math.ceil(math.log10(1.0 + spread + 100.0 * problem.peak_weight) + 1)
    soft = replace(problem, skip_cost=np.where(must, big, problem.skip_cost))
    out = _by_search(soft, greedy(soft), stats, run, lp_from_start=False, tight=True)
    found = out.assignment
    if found is None:
        return _finish(problem, [], out.bound, out.bound_source, stats)
    stats["soft_must_left_out"] = int(np.sum(found[must] == UNASSIGNED))
    placed = bool(np.all(found[must] != UNASSIGNED))
    return _finish(problem, [(found, False)] if placed else [], out.bound, out.bound_source, stats)


def _by_search(
    problem: AssignmentProblem,
    start: np.ndarray,
    stats: dict[str, object],
    run: _Run,
    lp_from_start: bool = True,
    tight: bool = False,
) -> SolverOutput:
    """Statutory first, the LP and its bounds, then large-neighbourhood search.

    ``run.plan`` (one thread) is the deterministic work of the whole search:
    statutory-first search 15% (at least :data:`URGENT_MIN_WORK`), the LP up
    to 80% (in GLOP's units: the LP's prices give the bound and its rounding
    the start, so it gets the largest share; a city authority's LP needs about
    2-4 units from the statutory-first start, and stops when done), the
    LP-guided search 10%, the main search 20% (45% without an LP); the bounds
    and the final polish run to completion. Where the LP would not finish in
    its share (:func:`_lp_work`), the smoothed ascent and the search from its
    priced start take :data:`SKIPPED_LP_SMOOTH_SHARE` and
    :data:`SKIPPED_LP_SEARCH_SHARE` instead.

    With ``lp_from_start`` the simplex begins at the statutory-first
    allocation rather than with every item left out (see
    :func:`~caseload.solvers.lp.solve_lp`); a soft problem, whose start
    leaves most items out, does better from nothing. ``tight`` (every item
    must be placed; the soft problem of :func:`_soft_search`) starts where the
    LP is slow from the smoothed ascent's prices (:data:`TIGHT_SMOOTH_SHARE`),
    and the LP then from that start.
    """
    from caseload.solvers.knapsack import KnapsackLagrangian
    from caseload.solvers.lagrangian import CapacityLagrangian
    from caseload.solvers.lns import FREE_PER_AGENT, MAX_AGENTS, MOVED_SHARE, improve

    seed, threads, deadline, budget, plan = (
        run.seed,
        run.threads,
        run.deadline,
        run.budget,
        run.plan,
    )
    progress, stop = run.progress, run.stop
    cancelled = stop if stop is not None else (lambda: False)
    wall_limited = False
    knap: KnapsackLagrangian | None = None
    knap_pending: Future[float] | None = None
    search_done = threading.Event()
    climb: CapacityLagrangian | None = None
    climb_pending: Future[float] | None = None
    start = _urgent_first(
        problem,
        start,
        seed,
        threads,
        deadline,
        # Statutory cases come first: at short limits the exact repair gets up
        # to a second (medium-1 needs 0.44 s; a fifth of 1.5 s fell short).
        max(0.2 * budget, min(0.6 * budget, 1.0)),
        cancelled,
        # At least URGENT_MIN_WORK: at short limits placing them matters most.
        work=None if plan is None else max(0.15 * plan, URGENT_MIN_WORK),
    )
    stats["urgent_first_objective"] = problem.objective(start)
    # The best objective so far, for the knapsack climb's step sizes.
    incumbent = [problem.objective(start)]
    lns_stats: dict[str, float] = {}
    # The LP runs beside the search when there are threads to spare (GLOP
    # releases the GIL); with one thread it runs first, keeping runs reproducible.
    # Building the LP costs Python time per pair; past this rate it could not
    # finish in the budget: the smoothed ascent stands in (a county), or at short
    # limits the Lagrangian climb beside the search.
    seconds = budget if plan is None else plan / DETERMINISTIC_SHARE
    use_lp = _lp_seconds(problem.num_pairs) < 0.75 * seconds
    # From a soft GAP's start (434 of e80x1600's 1,600 jobs placed) the LP
    # took 10.5 s instead of 6.8 s; from medium-0's, 3.6 s instead of 4.9 s.
    tight_lag: CapacityLagrangian | None = None
    if tight and _lp_seconds(problem.num_pairs) > TIGHT_LP_SHARE * seconds:
        # The greedy leaves most items out, and the search beside the LP (one
        # thread) gains slowly from there; the ascent's start is near the LP's.
        tight_lag = _tight_prices(problem, deadline, cancelled, threads, plan)
        priced = _priced_start(problem, tight_lag)
        stats["tight_priced_objective"] = problem.objective(priced)
        if _rank(problem, priced) < _rank(problem, start):
            start = priced
        if plan is None:
            left = max(0.0, deadline - time.perf_counter())
        else:
            plan *= 1 - TIGHT_SMOOTH_SHARE  # what the ascent used is the later phases' no more
            left = plan / DETERMINISTIC_SHARE
        # With e80x1600's LP (3.6 s) begun in the 3.4 s left of 5 s, the
        # search beside it ended at 208,148; without it, 185,152.
        use_lp = _lp_seconds(problem.num_pairs) < 0.75 * left
    lp_start = start if lp_from_start or tight_lag is not None else None
    lp_skipped = False
    if use_lp and not tight:
        need = _lp_work(problem, lp_start)
        if plan is not None:
            # One thread: an LP that would not finish in its share only takes
            # the search's work (and on a slow machine runs the plan into the
            # clock, whose cut makes runs differ). Medium-0 given 10 s: GLOP
            # stopped at its 2.2 units (3.0 needed) after 4.7 s, and the
            # search was cut.
            lp_skipped = need > LP_SHARE * plan
        else:
            # Two threads: an LP that takes half of a short limit (a city
            # authority given 10 s on a slow machine: GLOP alone 4.7-5.7 s)
            # leaves the search too little; the smoothed ascent gives prices
            # as good in a third of the time.
            lp_skipped = (
                need > LP_WORK_PER_SECOND * budget and SMOOTH_SHARE * budget >= SMOOTH_MIN_SECONDS
            )
        if lp_skipped:
            use_lp = False
            stats["lp_skipped"] = True
    smoothed: CapacityLagrangian | None = None
    if tight_lag is not None and not use_lp:
        # Its prices stand in for the LP's, as on a county.
        smoothed, lp = tight_lag, None
    elif not use_lp and plan is None and SMOOTH_SHARE * seconds >= SMOOTH_MIN_SECONDS:
        # Too large for one LP (a county), or too slow for the time (see
        # LP_WORK_PER_SECOND): the smoothed Lagrangian ascent on
        # every thread gives the bound and, through each case's cheapest pair at
        # its prices, the start. County-0, 30 s, seeds 0-2: one LP per locality
        # (its rounding, then the search) reached 706,203 / 686,998 / 692,047
        # with the zero-price bound 173,672; this (a share of 0.3, the search
        # over every pair) 674,258 / 671,145 / 665,143 with bounds of
        # 499,175-501,241.
        smoothed = CapacityLagrangian(problem)
        smoothed.consider(smoothed.mu, smoothed.nu)
        left = max(0.0, deadline - time.perf_counter())
        smoothed.smooth_ascent(
            seconds=(SKIPPED_LP_SMOOTH_CAP if lp_skipped else SMOOTH_SHARE) * left,
            grace=0.0 if lp_skipped else SMOOTH_GRACE * left,
            stop=cancelled,
            threads=threads,
            pair_budget=SKIPPED_LP_SMOOTH_PASSES * problem.num_pairs if lp_skipped else None,
        )
        lp = None
    elif lp_skipped and plan is not None:
        # The smoothed ascent instead, in work: its bound is near the LP's
        # (medium-0 given 10 s: 550,256 against the LP's 555,894) and its
        # prices give the start, in a fraction of the LP's time.
        smoothed = CapacityLagrangian(problem)
        smoothed.consider(smoothed.mu, smoothed.nu)
        smoothed.smooth_ascent(
            seconds=max(0.0, deadline - time.perf_counter()),
            stop=cancelled,
            threads=threads,
            pair_budget=SKIPPED_LP_SMOOTH_SHARE * plan * CITY_PAIRS_PER_WORK,
        )
        lp = None
    elif not use_lp:
        lp = None
    elif plan is None:
        abandon = threading.Event()
        with ThreadPoolExecutor(max_workers=1) as pool:
            lp_deadline = time.perf_counter() + 0.9 * (deadline - time.perf_counter())
            pending = pool.submit(
                solve_lp,
                problem,
                deadline=lp_deadline,
                stop=lambda: cancelled() or abandon.is_set(),
                start=lp_start,
            )
            start, lns_stats = improve(
                problem,
                start,
                deadline=deadline,
                seed=seed,
                threads=max(1, threads - 1),
                progress=progress,
                stop=lambda: pending.done() or cancelled(),
            )
            try:
                # GLOP keeps its own time limit; this is the guard should it not.
                lp = pending.result(timeout=max(0.0, lp_deadline + 0.5 - time.perf_counter()))
            except TimeoutError:
                abandon.set()  # interrupts GLOP within 50 ms
                lp = None
                stats["lp_abandoned"] = True
    else:
        lp = solve_lp(
            problem, deadline=deadline, stop=cancelled, work=LP_SHARE * plan, start=lp_start
        )
        wall_limited |= time.perf_counter() >= deadline

    bound, source = -math.inf if tight_lag is None else tight_lag.best, "lagrangian"
    lag = CapacityLagrangian(problem)
    fallback = None
    if smoothed is not None:
        bound = smoothed.best
        stats["smoothed_bound"] = bound
        if progress is not None:
            # Up to 40% of the time has passed with nothing to show.
            progress(Progress(0.0, problem.objective(start), bound))
        if not cancelled() and tight_lag is None:
            # Statutory cases are settled at the prices first: on a county
            # whose ascent has not converged, its cheapest pairs leave one to
            # five without room, and the search spent its first seconds on
            # them (county 30 s, seeds 1-3: starts of 1.1-9.2 million ->
            # 0.8-1.1 million; with SMOOTH_GRACE below, objectives 3% lower on
            # average). Should the search not place those left, the
            # statutory-first start stands.
            priced = _priced_start(problem, smoothed, settle=True)
            stats["priced_objective"] = problem.objective(priced)
            if lp_skipped and plan is None and _rank(problem, priced)[0]:
                # Statutory cases the prices left without room (one to three on
                # medium-1): an exact rearrangement places them before the
                # search (10 s, seeds 1/2: 748,252 / 758,543 -> 448,954 / 448,602).
                priced = place_urgent(
                    problem,
                    priced,
                    _urgent_items(problem),
                    seconds=max(0.0, 0.2 * (deadline - time.perf_counter())),
                    seed=seed + 3,
                    threads=threads,
                )
                stats["priced_repaired_objective"] = problem.objective(priced)
                if _rank(problem, priced)[0]:
                    # The repair ran out of time (a slow machine): searched from
                    # there, statutory cases sometimes stayed out to the end
                    # and the statutory-first start was all there was (medium-1
                    # at 10 s, 3 of 14 runs: 741,523-754,148 against 440,642-
                    # 458,910). With the repair made to fail, seeds 2/3: starts
                    # of 669,637 / 679,399, ends 453,890 / 445,118.
                    priced = _reinsert_urgent(problem, priced, start)
                    stats["priced_reinserted_objective"] = problem.objective(priced)
            fallback, start = start, priced
    elif lp is not None:
        lp_bound = lag.consider(lp.mu, lp.nu)
        if lp_bound >= bound:
            bound, source = lp_bound, "lp"
        stats["lp_optimal"] = lp.optimal
        stats["lp_bound"] = lp_bound
        knap = KnapsackLagrangian(problem)
        if cancelled():
            whole, _ = knap.evaluate(lp.lam, lp.nu, deadline=time.perf_counter())
        elif plan is not None:
            # To completion (the clock only guards), so that runs repeat.
            whole, _ = knap.evaluate(lp.lam, lp.nu, deadline=deadline)
            wall_limited |= not math.isfinite(whole)
        else:
            # Most of the time is in numpy, and the search's in CP-SAT: the
            # bound is worked out beside the roundings (whose second LP leaves a
            # core free) and the search rather than before them, and climbs on
            # from the LP's prices when there is time for it.
            knap_pending = _beside(
                knap.climb,
                lp.lam,
                lp.nu,
                target=lambda: incumbent[0],
                deadline=deadline - 0.5 * _RESERVE,
                stop=lambda: cancelled() or search_done.is_set(),
            )
        if knap_pending is None:
            bound, source = _with_knapsack(stats, bound, source, whole)
        if lp.optimal and not cancelled():

            def try_rounding(
                rounding: np.ndarray | None, share: float, offset: int, key: str
            ) -> None:
                """The statutory repair of a rounding; it becomes the start if better."""
                nonlocal start
                if rounding is None:
                    return
                rounding = place_urgent(
                    problem,
                    rounding,
                    _urgent_items(problem),
                    seconds=max(0.0, share * (deadline - time.perf_counter())),
                    seed=seed + offset,
                    threads=threads,
                    work=None if plan is None else 0.02 * plan,
                )
                stats[key] = problem.objective(rounding)
                if _rank(problem, rounding) < _rank(problem, start):
                    start = rounding

            try_rounding(_lp_rounded(problem, lp), 0.2, 3, "rounded_objective")
            # The share only caps the second LP, which ends when done.
            settled = _urgent_fixed(
                problem,
                lp,
                deadline=time.perf_counter()
                + SETTLE_SHARE * max(0.0, deadline - time.perf_counter()),
                work=None if plan is None else 0.15 * plan,
            )
            try_rounding(settled, 0.1, 5, "urgent_fixed_objective")
    if smoothed is None and (lp is None or not lp.optimal):
        # Prices from an unfinished LP are valid but can be far off (bounds of
        # minus millions): climb from them or from zero prices, whichever is better.
        climb = CapacityLagrangian(problem)
        climb.consider(climb.mu, climb.nu)
        if lp is not None:
            climb.consider(lp.mu, lp.nu)
        if plan is None:
            # Beside the search, as the knapsack bound is: the climb is numpy,
            # and it keeps improving for as long as it is given.
            climb_pending = _beside(
                climb.ascend,
                problem.objective(start),
                seconds=max(0.0, deadline - 0.5 * _RESERVE - time.perf_counter()),
                stop=cancelled,
            )
        else:
            seconds = 0.0 if cancelled() else max(0.0, deadline - time.perf_counter())
            ascended = climb.ascend(
                problem.objective(start), seconds=seconds, iterations=_iterations(plan)
            )
            if ascended > bound:
                bound, source = ascended, "lagrangian"

    def best_bound() -> float:
        return max(
            bound,
            -math.inf if climb is None else climb.best,
            -math.inf if knap is None else knap.best,
        )

    reported = [-math.inf]  # the best bound reported so far

    def searched(point: Progress) -> bool | None:
        incumbent[0] = min(incumbent[0], point.objective)
        if point.bound is not None:
            reported[0] = max(reported[0], point.bound)
        return progress(point) if progress is not None else None

    if lp is not None and lp.optimal and not cancelled():
        # Packing whole knapsacks at the LP's prices around the statutory items
        # sometimes beats the rounding where capacity is loose (a large
        # authority); over the whole problem it never did, so it is not tried.
        # Given a tenth of the time left: 0.2 s on a city authority, where
        # it sometimes wins, but 6 s of 15 on a tight 80 x 1,600 GAP, where
        # it never does (its knapsacks span the whole capacity). One
        # thread runs it to completion, so that runs repeat.
        packed = _packed_start(
            problem,
            lp,
            start,
            deadline=math.inf
            if plan is not None
            else time.perf_counter() + 0.1 * max(0.0, deadline - time.perf_counter()),
        )
        if packed is not None:
            stats["packed_objective"] = problem.objective(packed)
            # Never at the price of a statutory case the start places.
            if _rank(problem, packed) < _rank(problem, start):
                start = packed
        start, guided = _lp_guided(
            problem,
            start,
            lp,
            seed=seed + 2,
            threads=threads,
            deadline=time.perf_counter() + GUIDED_SHARE * max(0.0, deadline - time.perf_counter()),
            work=None if plan is None else 0.1 * plan,
            stop=cancelled,
            progress=searched,
            bound=best_bound,
        )
        stats.update(guided)
    start_objective = problem.objective(start)
    stats["start_objective"] = start_objective
    # The roundings and the packing report nothing of their own.
    searched(Progress(0.0, start_objective, best_bound()))
    search_end = deadline
    if _rank(problem, start)[0] and plan is None and fallback is None:
        # Statutory cases still out: keep time for the exact repair at the end.
        search_end = deadline - min(1.0, 0.3 * max(0.0, deadline - time.perf_counter()))
    view = None
    if lp is not None and lp.optimal:
        # On one thread too (the reproducible search; 8 seeds at the CI gate's
        # budgets, without -> with): medium-0 689,047 -> 681,816, medium-1
        # 488,576 -> 484,230, small-1 89,748 -> 89,255. An earlier 4-seed
        # measurement against it (679,824 -> 687,594) was the luck of its seeds.
        view = _priced_pairs(problem, lp.mu, lp.nu, start, used=lp.x > 1e-6)
    elif smoothed is not None and math.isfinite(smoothed.best):
        # The same at the smoothed prices (county-0, 30 s, seeds 0-2: 674,258 /
        # 671,145 / 665,143 searching every pair, 624,050 / 613,370 / 606,675).
        view = _priced_pairs(problem, smoothed.guide_mu, smoothed.best_nu, start)

    # The search after the smoothed ascent (a county) has its own neighbourhoods.
    county = smoothed is not None and tight_lag is None and not lp_skipped
    best, more = improve(
        problem,
        start,
        deadline=search_end,
        seed=seed + 1,
        threads=threads,
        progress=searched,
        bound=best_bound,
        work=None
        if plan is None
        else (SKIPPED_LP_SEARCH_SHARE if lp_skipped else _search_share(problem, lp, smoothed))
        * plan,
        stop=cancelled,
        view=view,
        free_per_agent=SMOOTHED_FREE_PER_AGENT if county else FREE_PER_AGENT,
        max_agents=SMOOTHED_MAX_AGENTS if county else MAX_AGENTS,
        moved_share=SMOOTHED_MOVED_SHARE if county else MOVED_SHARE,
    )
    search_done.set()
    for key, value in more.items():
        lns_stats[key] = lns_stats.get(key, 0) + value if key != "lns_agents" else value
    stats.update(lns_stats)
    if knap_pending is not None:
        bound, source = _with_knapsack(stats, bound, source, knap_pending.result())
    if climb_pending is not None and climb_pending.result() > bound:
        bound, source = climb_pending.result(), "lagrangian"
    if fallback is not None and _rank(problem, best)[0]:
        # Statutory cases the search did not place go where the fallback has
        # them, rather than the fallback replacing all the search found.
        reinserted = _reinsert_urgent(problem, best, fallback)
        if _rank(problem, reinserted) < _rank(problem, best):
            best = reinserted
    if fallback is not None and _rank(problem, fallback) < _rank(problem, best):
        best = fallback
    if _rank(problem, best)[0] and not cancelled():
        repaired = place_urgent(
            problem,
            best,
            _urgent_items(problem),
            seconds=max(0.0, deadline - time.perf_counter()),
            seed=seed + 4,
            threads=threads,
            work=None if plan is None else 0.02 * plan,
        )
        if problem.objective(repaired) < problem.objective(best):
            best = repaired
    best = _polish(problem, best, deadline)
    final = problem.objective(best)
    if final < incumbent[0] or best_bound() > reported[0]:
        # The repair, the polish and the bounds finished beside the search
        # end the report where the result begins.
        searched(Progress(0.0, final, best_bound()))
    if wall_limited:
        stats["wall_limited"] = 1
    return _finish(problem, [(best, False)], bound, source, stats)


def _search_share(
    problem: AssignmentProblem, lp: LPSolution | None, smoothed: CapacityLagrangian | None
) -> float:
    """The main search's share of a one-thread plan: what the phases before it
    leave. After an LP (its roundings and the guided search) a fifth
    (:data:`GAP_SEARCH_SHARE` on a GAP, whose LP is quick); without
    one, the Lagrangian climb runs first and the search gets 45%; after a
    tight problem's ascent (already taken from the plan), with no LP and no
    climb, all but the statutory-first phase's 15%: with 45% a tight 80 x
    1,600 GAP given 5 s ended after 1.5 s.
    """
    from caseload.solvers.lns import leaving_out_never_pays

    if lp is not None and lp.optimal:
        return GAP_SEARCH_SHARE if leaving_out_never_pays(problem) else 0.2
    return 0.85 if smoothed is not None else 0.45


def _as_one_solve(
    progress: Callable[[Progress], bool | None], started: float, halted: threading.Event
) -> Callable[[Progress], bool | None]:
    """``progress`` as the whole solve sees it: seconds since ``started``, and the
    best objective and bound so far. Each phase reports its own (its seconds
    from its own start, its objective from its own start, which after a
    county's ascent is above the construction kept as the fallback). A
    ``True`` from ``progress`` sets ``halted``, and is passed on."""
    best = {"objective": math.inf, "bound": -math.inf}

    def as_one(point: Progress) -> bool | None:
        best["objective"] = min(best["objective"], point.objective)
        if point.bound is not None:
            best["bound"] = max(best["bound"], point.bound)
        bound = best["bound"] if math.isfinite(best["bound"]) else None
        if progress(Progress(time.perf_counter() - started, best["objective"], bound)):
            halted.set()
        return halted.is_set() or None

    return as_one


_T = TypeVar("_T")


def _beside(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
    """Run ``fn`` on a thread of its own, beside the search; its future holds the answer."""
    background = ThreadPoolExecutor(max_workers=1)
    pending = background.submit(fn, *args, **kwargs)
    background.shutdown(wait=False)  # the task still runs to its end
    return pending


def _with_knapsack(
    stats: dict[str, object], bound: float, source: str, whole: float
) -> tuple[float, str]:
    """Record the knapsack bound; the better of it and ``bound``, with its source."""
    stats["knapsack_bound"] = whole if math.isfinite(whole) else None
    return (whole, "knapsack-lagrangian") if whole > bound else (bound, source)


def _lp_guided(
    problem: AssignmentProblem,
    start: np.ndarray,
    lp: LPSolution,
    *,
    seed: int,
    threads: int,
    deadline: float,
    work: float | None,
    stop: Callable[[], bool],
    progress: Callable[[Progress], bool | None] | None = None,
    bound: Callable[[], float | None] = lambda: None,
) -> tuple[np.ndarray, dict[str, object]]:
    """Search the neighbourhood the LP points to, then return the better assignment.

    Most items are whole in an optimal LP solution. If its whole part,
    completed greedily, places as many statutory-like items as ``start``, those
    items are fixed where the LP puts them and the rest is searched from that
    completion; otherwise (an overloaded authority, where the LP's fractions of
    urgent items need the room) only the items on which the LP and ``start``
    agree are fixed, and the search starts from ``start`` (RINS). Items both
    leave out stay out. Either way, the search runs on far fewer pairs.
    """
    from caseload.solvers.lns import improve, leaving_out_never_pays

    p = problem
    whole = lp.integral_part(p)
    out_in_lp = _lp_share(p, lp) < 1e-6
    completed = greedy(p, whole)
    urgent = _urgent_items(p)
    placed = int(np.sum(urgent & (completed != UNASSIGNED)))
    if not p.violations(completed) and placed >= int(np.sum(urgent & (start != UNASSIGNED))):
        fixed, base, mode = whole != UNASSIGNED, completed, "lp-fixed"
    else:
        fixed, base, mode = (whole != UNASSIGNED) & (whole == start), start, "rins"
    keep = ~fixed[p.pair_item] | (p.pair_agent == base[p.pair_item])
    # Left out by both: their pairs go, which shrinks the search further.
    keep &= ~(out_in_lp & (base == UNASSIGNED))[p.pair_item]
    sub = p.restricted(keep, skip_cost=np.where(fixed, np.inf, p.skip_cost))
    found, more = improve(
        sub,
        base,
        deadline=deadline,
        seed=seed,
        threads=threads,
        work=work,
        stop=stop,
        patience=GUIDED_PATIENCE,
        # Its allocations are whole ones of ``problem`` too; ones above the
        # best so far are not news, and the solve's reporter keeps the best.
        progress=progress,
        bound=bound,
        # With the LP's whole part fixed, chains only reshuffle its split items,
        # and the main search then ended higher on large-0 (10 s, seeds 4-9:
        # 42,337 with them, 42,308 without); a tight GAP needs them (seeds
        # 0-2: d80x1600 97,209 with, 97,244 without; e80x1600 178,669 / 178,809).
        chains=mode == "rins" or leaving_out_never_pays(p),
    )
    stats: dict[str, object] = {
        "guided_mode": mode,
        "guided_pairs": sub.num_pairs,
        "guided_objective": p.objective(found),
    }
    if more.get("wall_limited"):
        stats["wall_limited"] = 1
    if not p.violations(found) and p.objective(found) < p.objective(start):
        return found, stats
    return start, stats


def _packed_start(
    problem: AssignmentProblem, lp: LPSolution, start: np.ndarray, deadline: float = math.inf
) -> np.ndarray | None:
    """The Lagrangian heuristic at the LP's prices, around the statutory items.

    Pinned and statutory-like items stay where ``start`` has them; every agent
    then takes its best knapsack (see :meth:`KnapsackLagrangian.pack`) at the
    LP's item prices in the room they leave. Agents over a limit (the
    knapsack's grid rounds points down) shed their cheapest items, and the
    greedy fills the rest. ``None`` if the knapsacks are not all packed by
    ``deadline``.
    """
    from caseload.solvers.knapsack import KnapsackLagrangian

    p = problem
    must = ~np.isfinite(p.skip_cost)
    fixed = (_urgent_items(p) | must) & (start != UNASSIGNED)
    room = p.limits - p.loads(p.pairs_of(np.where(fixed, start, UNASSIGNED)))
    free = ~fixed[p.pair_item]
    residual = p.restricted(
        free,
        skip_cost=np.where(fixed, 0.0, p.skip_cost),
        limits=np.maximum(room, 0.0),
    )
    packed = KnapsackLagrangian(residual).pack(lp.lam, lp.nu, deadline)
    if packed is None:
        return None
    packed[fixed] = start[fixed]
    packed = make_room(p, packed, np.zeros(0, dtype=np.int64), fixed)
    return greedy(p, packed)


def _priced_pairs(
    problem: AssignmentProblem,
    mu: np.ndarray,
    nu: np.ndarray,
    start: np.ndarray,
    used: np.ndarray | None = None,
) -> np.ndarray:
    """The pairs worth searching at prices ``(mu, nu)`` (a mask).

    A pair's reduced cost :math:`\\bar c_p` (see
    :class:`~caseload.solvers.lagrangian.CapacityLagrangian`) less its item's
    least, :math:`\\bar c_p - \\min_{q \\ni i} \\bar c_q`, is what choosing it
    costs over the cheapest choice at those prices; the :data:`PRICED_SHARE` of
    pairs where that is smallest are kept, with the pairs in ``used`` (the
    LP's), those of ``start`` and each item's incumbent.
    """
    from caseload.solvers.lagrangian import CapacityLagrangian

    p = problem
    lag = CapacityLagrangian(p)
    reduced = lag.reduced(mu, nu)
    above = reduced - lag.item_min(reduced)[p.pair_item]
    keep = above <= np.quantile(above, PRICED_SHARE)
    if used is not None:
        keep |= used
    keep[p.pairs_of(start)] = True
    keep |= p.incumbent_pairs
    return keep


def _tight_prices(
    problem: AssignmentProblem,
    deadline: float,
    stop: Callable[[], bool],
    threads: int,
    plan: float | None,
) -> CapacityLagrangian:
    """The smoothed ascent's prices for a problem whose every item must be placed.

    Its smoothing starts at a fifth of the median pair's cost above its item's
    cheapest, and cools every 50 steps: on e80x1600, one thread, stages of
    200 steps were at 33,660 after 1 s, stages of 50 at 176,992 after 0.5 s
    (its LP bound is 177,192). One thread (``plan``) counts the pairs it sums
    over rather than seconds, so that runs repeat: :data:`TIGHT_SMOOTH_SHARE`
    of the plan, at :data:`TIGHT_PAIRS_PER_WORK` pairs summed per unit of work.
    """
    from caseload.solvers.lagrangian import CapacityLagrangian

    p = problem
    lag = CapacityLagrangian(p)
    lag.consider(lag.mu, lag.nu)
    spread = p.pair_cost - lag.item_min(p.pair_cost)[p.pair_item]
    seconds = max(0.0, deadline - time.perf_counter())
    budget = None
    if plan is None:
        seconds *= TIGHT_SMOOTH_SHARE
    else:
        budget = TIGHT_SMOOTH_SHARE * plan * TIGHT_PAIRS_PER_WORK
    lag.smooth_ascent(
        seconds=seconds,
        stop=stop,
        threads=threads,
        tau=0.2 * max(float(np.median(spread)), 1e-6),
        light_pairs=8,
        stage_steps=50,
        pair_budget=budget,
    )
    return lag


def _priced_start(
    problem: AssignmentProblem, lag: CapacityLagrangian, settle: bool = False
) -> np.ndarray:
    """Each item on its cheapest pair at the Lagrangian's guiding prices where it fits,
    most costly to leave out first, then the greedy.

    Where the prices are near the LP's, an item's cheapest pair is mostly where
    the LP puts it, so this is a whole-problem start without the LP. With
    ``settle`` the statutory items whose cheapest pair is full take their next
    cheapest with room (at the prices) before the other items are placed.
    """
    p = problem
    _, chosen = lag.evaluate(lag.guide_mu, np.zeros(p.num_agents))
    urgency = np.where(np.isfinite(p.skip_cost), p.skip_cost, np.inf)
    loads = np.zeros_like(p.limits)
    partial = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
    if settle:
        reduced = lag.reduced(lag.guide_mu, np.zeros(p.num_agents))
        urgent = np.flatnonzero(_urgent_items(p))
        for item in urgent[np.argsort(-urgency[urgent], kind="stable")].tolist():
            pairs = np.arange(p.item_start[item], p.item_start[item + 1])
            partial[item] = _first_fit(p, loads, pairs[np.argsort(reduced[pairs], kind="stable")])
    for item in np.argsort(-urgency, kind="stable").tolist():
        if chosen[item] >= 0 and partial[item] == UNASSIGNED:
            partial[item] = _first_fit(p, loads, chosen[item : item + 1])
    return greedy(p, partial)


def _reinsert_urgent(
    p: AssignmentProblem, assignment: np.ndarray, placed: np.ndarray
) -> np.ndarray:
    """``assignment`` with the urgent items it leaves out placed as ``placed``
    (a feasible assignment) has them, and as few others changed as that needs.

    The agents of those items take exactly their urgent items in ``placed``;
    urgent items they hold that go elsewhere there move too, and their new
    agents join, until nothing more moves. Every such agent then holds no more
    urgent load than in ``placed``; its other items make room, cheapest to
    leave out first, and the greedy offers them the rest.
    """
    every = _urgent_items(p)
    urgent = every & (placed != UNASSIGNED)
    result = assignment.copy()
    todo = np.flatnonzero(urgent & (result == UNASSIGNED))
    if todo.size == 0:
        return result
    ruled = np.zeros(p.num_agents, dtype=bool)
    new = np.unique(placed[todo])
    while new.size:
        ruled[new] = True
        # Urgent items held by these agents that ``placed`` puts elsewhere.
        held = urgent & (result >= 0) & ruled[np.maximum(result, 0)]
        leaving = held & (placed != result)
        new = np.unique(placed[leaving])
        new = new[~ruled[new]]
    moving = urgent & ruled[np.maximum(placed, 0)]
    result[moving] = placed[moving]
    # Urgent items ``placed`` leaves out give way on those agents too: their
    # urgent load is then no more than in ``placed``.
    result[every & ~urgent & (result >= 0) & ruled[np.maximum(result, 0)]] = UNASSIGNED
    return greedy(p, make_room(p, result, np.zeros(0, dtype=np.int64), urgent))


def _first_fit(p: AssignmentProblem, loads: np.ndarray, pairs: np.ndarray) -> int:
    """The agent of the first of ``pairs`` (one item's) within its limits given ``loads``,
    which it then adds to; ``UNASSIGNED`` if none fits."""
    for pair in pairs.tolist():
        agent = int(p.pair_agent[pair])
        after = loads[:, agent] + p.pair_usage[:, pair]
        if np.all(after <= p.limits[:, agent] * (1 + 1e-12)):
            loads[:, agent] = after
            return agent
    return UNASSIGNED


def _lp_rounded(p: AssignmentProblem, lp: LPSolution) -> np.ndarray:
    """The LP's whole assignments, its split items given room, then the greedy.

    Items the LP splits between agents (or places in part) are placed, costliest
    first, where leaving out the cheapest items makes room for them at least
    cost (:func:`~caseload.solvers.greedy.make_room`); the whole and urgent
    items already placed are kept. Most items are whole in an optimal LP
    solution, so this keeps the LP's choice of which items to leave out.
    """
    whole = lp.integral_part(p)
    must = ~np.isfinite(p.skip_cost)
    todo = np.flatnonzero((whole == UNASSIGNED) & (_lp_share(p, lp) > 1e-6))
    todo = todo[np.argsort(-np.where(must[todo], np.inf, p.skip_cost[todo]), kind="stable")]
    keep = (_urgent_items(p) | must) & (whole != UNASSIGNED)
    return greedy(p, make_room(p, whole, todo, keep))


def _urgent_fixed(
    p: AssignmentProblem, lp: LPSolution, *, deadline: float, work: float | None
) -> np.ndarray | None:
    """The LP re-solved with every urgent item fixed where the LP leans, then rounded.

    Each urgent (statutory) item goes to its pair with the largest LP value
    (then the lowest reduced cost) where the urgent items placed so far leave
    room, the most wholly placed items first; the LP over the other items is
    then solved again around them and rounded (:func:`_lp_rounded`). On an
    overloaded authority the LP splits a hundred statutory items between
    workers, and rounding them by making room costs far more than settling
    them first: on medium-0 the LP with the urgent items fixed where the plain
    rounding puts them is worth 633,902, fixed this way 574,582 (the LP 555,894).
    ``None`` if no urgent item is split or the second LP does not finish.
    """
    from caseload.solvers.lagrangian import CapacityLagrangian

    urgent = _urgent_items(p)
    if urgent.all() or not urgent.any():
        return None
    split = urgent & (lp.integral_part(p) == UNASSIGNED) & (_lp_share(p, lp) > 1e-6)
    if not split.any():
        return None
    reduced = CapacityLagrangian(p).reduced(lp.mu, lp.nu)
    most = np.zeros(p.num_items)
    np.maximum.at(most, p.pair_item, lp.x)
    items = np.flatnonzero(urgent)
    agent_of = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
    load = np.zeros_like(p.limits)
    for item in items[np.argsort(-most[items], kind="stable")].tolist():
        pairs = np.arange(p.item_start[item], p.item_start[item + 1])
        agent_of[item] = _first_fit(p, load, pairs[np.lexsort((reduced[pairs], -lp.x[pairs]))])
    fixed = agent_of != UNASSIGNED
    keep = ~fixed[p.pair_item] | (p.pair_agent == agent_of[p.pair_item])
    settled = p.restricted(keep, skip_cost=np.where(fixed, np.inf, p.skip_cost))
    again = solve_lp(settled, deadline=deadline, work=work, start=greedy(settled, agent_of))
    if again is None or not again.optimal:
        return None
    return _lp_rounded(settled, again)


def _lp_share(p: AssignmentProblem, lp: LPSolution) -> np.ndarray:
    """How much of each item the LP places (0 to 1)."""
    return np.bincount(p.pair_item, weights=lp.x, minlength=p.num_items)


def _rank(p: AssignmentProblem, assignment: np.ndarray) -> tuple[int, float]:
    """Urgent items left out, then the objective: smaller is better."""
    out = int(np.sum(_urgent_items(p) & (assignment == UNASSIGNED)))
    return out, p.objective(assignment)


def _urgent_items(p: AssignmentProblem) -> np.ndarray:
    """Items far costlier to leave out than the median (statutory cases), or unskippable."""
    finite = p.skip_cost[np.isfinite(p.skip_cost)]
    if finite.size == 0:
        return ~np.isfinite(p.skip_cost)
    return ~np.isfinite(p.skip_cost) | (p.skip_cost >= 100.0 * max(float(np.median(finite)), 1e-9))


def _polish(problem: AssignmentProblem, assignment: np.ndarray, deadline: float) -> np.ndarray:
    """A last cheap polish, inside the reserve: swap left-out items for cheaper
    ones to drop, then offer the dropped ones (and any left out) elsewhere."""
    from caseload.solvers.swap import swap_improve

    polished = greedy(problem, swap_improve(problem, assignment, deadline + 0.2 * _RESERVE))
    better = problem.objective(polished) < problem.objective(assignment)
    return polished if better and not problem.violations(polished) else assignment


def _iterations(plan: float | None) -> int:
    """Subgradient steps of the Lagrangian climb for a deterministic plan."""
    return 100_000 if plan is None else max(20, int(40 * plan))


def _priced_bound(
    problem: AssignmentProblem, deadline: float, work: float | None = None
) -> tuple[float, str, np.ndarray] | None:
    """The better of the LP bound and the whole-items knapsack bound at its prices.

    Returns the bound, its source and the LP's item prices.
    """
    from caseload.solvers.knapsack import KnapsackLagrangian
    from caseload.solvers.lagrangian import CapacityLagrangian

    lp = solve_lp(problem, deadline=deadline, work=work)
    if lp is None:
        return None
    bound, source = CapacityLagrangian(problem).consider(lp.mu, lp.nu), "lp"
    whole, _ = KnapsackLagrangian(problem).evaluate(lp.lam, lp.nu, deadline=deadline + 1.0)
    if whole > bound:
        bound, source = whole, "knapsack-lagrangian"
    return (bound, source, lp.lam) if math.isfinite(bound) else None


def _urgent_first(
    problem: AssignmentProblem,
    start: np.ndarray,
    seed: int,
    threads: int,
    deadline: float,
    seconds: float,
    stop: Callable[[], bool],
    work: float | None = None,
) -> np.ndarray:
    """Place the items far costlier to leave out (statutory cases) first, exactly.

    The items whose skip cost is at least 100 times the median are searched
    alone (LNS over all agents, from the greedy's placement of them); the
    greedy then fills the rest around them. The result replaces ``start``
    only if it is better overall.
    """
    from caseload.solvers.lns import improve, restrict

    if not np.isfinite(problem.skip_cost).any():
        return start
    urgent = _urgent_items(problem)
    if not urgent.any() or urgent.all():
        return start
    options = np.diff(problem.item_start) > 0
    if not np.any(urgent & (start == UNASSIGNED) & options):
        return start
    # An exact rearrangement of the urgent items usually places every one left
    # out, in a fraction of a second on a city authority.
    repaired = place_urgent(
        problem,
        start,
        urgent,
        seconds=0.8 * seconds,
        seed=seed,
        threads=threads,
        work=None if work is None else 0.3 * work,
    )
    if problem.objective(repaired) < problem.objective(start):
        start = repaired
    if not np.any(urgent & (start == UNASSIGNED) & options):
        return start
    items = np.flatnonzero(urgent)
    sub, hint = restrict(problem, items, np.where(urgent, start, UNASSIGNED))
    # Without the other items in the way, search places nearly all of them fast.
    found, _ = improve(
        sub,
        hint,
        # With a work budget (one thread) the clock only guards the deadline.
        deadline=deadline if work is not None else min(deadline, time.perf_counter() + seconds),
        seed=seed,
        threads=threads,
        work=work if work is not None else DETERMINISTIC_SHARE * seconds,
        stop=stop,
    )
    placed = np.full(problem.num_items, UNASSIGNED, dtype=np.int64)
    placed[items] = found
    candidate = greedy(problem, placed)
    if problem.violations(candidate) or problem.objective(candidate) >= problem.objective(start):
        candidate = start
    # What the search could not place, an exact rearrangement of the urgent items may.
    repaired = place_urgent(
        problem,
        candidate,
        urgent,
        seconds=max(0.0, min(seconds, deadline - time.perf_counter())),
        seed=seed,
        threads=threads,
        work=None if work is None else 0.2 * work,
    )
    if problem.objective(repaired) < problem.objective(candidate):
        return repaired
    return candidate


def _finish(
    problem: AssignmentProblem,
    found: list[tuple[np.ndarray, bool]],
    bound: float | None,
    source: str,
    stats: dict[str, object],
    infeasible: bool = False,
) -> SolverOutput:
    """The best feasible assignment found, with the bound clamped to its objective."""
    feasible = [
        (problem.objective(a), not proved, a) for a, proved in found if not problem.violations(a)
    ]
    if not feasible:
        return SolverOutput(None, bound, source, infeasible=infeasible, statistics=stats)
    value, not_proved, best = min(feasible, key=lambda f: (f[0], f[1]))
    if bound is not None and not np.isfinite(bound):
        bound = None
    if bound is not None:
        bound = min(bound, value)
    return SolverOutput(best, bound, source, not not_proved, statistics=stats)


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
        # "Optimal" is claimed only where the reported bound itself proves it
        # (to the format's tolerance), so any reader can verify the claim.
        if gap <= 1e-6:
            status = "optimal"
    reasons = unallocated_reasons(compiled, allocation)
    moves = moves_of(compiled, allocation)
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
            "moves": len(moves),
            "moves_forced": sum(m.forced for m in moves),
        },
        moves=tuple(moves),
    )
