"""Daily operations benchmark: new referrals and leavers on a solved city authority.

    python benchmarks/daily.py                   # medium-0, 5 days of 50 referrals, 3 leavers
    python benchmarks/daily.py --referrals 100 --max-moves 20

The authority is solved once (``--solve-seconds``, 2 threads); each "day" then
adds ``--referrals`` new referrals to that allocation and allocates them with
``solve(..., max_moves=...)`` under a one-second limit; each leaver scenario
removes one of the workers holding most cases. Every allocation is checked by
the independent checker. Times are wall-clock seconds of ``caseload.solve``
(compile, solve, explain) in a warm process, as in a service; the table also
shows the first-call time, which includes importing OR-Tools' solver.
"""

from __future__ import annotations

import argparse
import time

import caseload as cl
from caseload import scenarios as sc
from caseload.generate import generate_authority, new_referrals


def _row(name: str, day: cl.Instance, result: cl.Result, seconds: float, max_moves: int) -> str:
    report = cl.check(day, result)
    optional = sum(not m.forced for m in result.moves)
    forced = sum(m.forced for m in result.moves)
    lifted = "lifted" if result.statistics.get("max_moves_lifted") else ""
    return (
        f"| {name} | {seconds:.3f} | {int(result.objective['statutory'])} | "
        f"{len(result.unallocated)} | {forced} | {optional} (≤ {max_moves}) {lifted} | "
        f"{'pass' if report.ok else 'FAIL'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="medium")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--referrals", type=int, default=50)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--leavers", type=int, default=3)
    parser.add_argument("--max-moves", type=int, default=10)
    parser.add_argument("--time-limit", type=float, default=1.0)
    parser.add_argument("--solve-seconds", type=float, default=10.0)
    args = parser.parse_args()

    data = generate_authority(args.size, args.seed)
    base = cl.Instance.from_dict(data)
    solved = cl.solve(base, time_limit=args.solve_seconds, threads=2)
    today = sc.with_allocation(base, solved)
    print(
        f"{data['name']}: {len(base.workers)} workers, {len(base.cases)} cases; "
        f"solved in {solved.runtime_seconds:.1f} s, objective {solved.objective['total']:,.1f}"
    )
    print(
        f"\nmax_moves={args.max_moves}, time limit {args.time_limit:g} s, 2 threads\n\n"
        "| scenario | seconds | statutory unallocated | unallocated | forced moves | "
        "other moves | checker |\n|---|---|---|---|---|---|---|"
    )
    worst = 0.0
    for k in range(args.days):
        day = sc.add_cases(today, new_referrals(data, args.referrals, seed=k + 1))
        started = time.perf_counter()
        result = cl.solve(day, max_moves=args.max_moves, time_limit=args.time_limit, threads=2)
        seconds = time.perf_counter() - started
        worst = max(worst, seconds) if k else worst
        new = [c.id for c in day.cases if c.id.startswith(f"r{k + 1}-")]
        placed = sum(c in result.assignments for c in new)
        name = f"day {k + 1}: {len(new)} referrals, {placed} placed"
        print(
            _row(name + (" (first call)" if k == 0 else ""), day, result, seconds, args.max_moves)
        )
    holders = sorted(
        {c.current_worker for c in today.cases if c.current_worker},
        key=lambda w: -sum(c.current_worker == w for c in today.cases),
    )
    for worker in holders[: args.leavers]:
        day = sc.without_worker(today, worker)
        affected = [c.id for c in day.cases if c.current_worker == worker]
        started = time.perf_counter()
        result = cl.solve(day, max_moves=args.max_moves, time_limit=args.time_limit, threads=2)
        seconds = time.perf_counter() - started
        placed = sum(c in result.assignments for c in affected)
        name = f"{worker} leaves: {len(affected)} cases, {placed} reallocated"
        print(_row(name, day, result, seconds, args.max_moves))
    print(f"\nslowest warm day: {worst:.3f} s")


if __name__ == "__main__":
    main()
