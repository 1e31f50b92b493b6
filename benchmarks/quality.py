"""Quality table: objective, proven bound and gap per solver, side by side, in one run.

    python benchmarks/quality.py                       # medium + large, 3 seeds, 10 s
    python benchmarks/quality.py --sizes county --time-limit 30
    python benchmarks/quality.py --long 300 --highs 600 --sizes medium large
    python benchmarks/quality.py --scip 30 --sizes medium large
    python benchmarks/quality.py --gap                 # OR-Library GAP files
    python benchmarks/quality.py --targets             # the scale targets, judged (targets.py)
    python benchmarks/quality.py --profile ci          # the CI quality gate (see gate.py)
    python benchmarks/quality.py --profile ci --update-baseline
    python benchmarks/quality.py --profile full        # the gate's measurement, more instances

Each solve runs in its own process, so peak memory (max RSS) is measured per solve,
and its allocation is checked by the independent checker. Solvers:

- ``caseload``   this library, default strategy, ``--time-limit`` seconds, 2 threads
- ``long``       this library given ``--long`` seconds (a reference for "within 0.5%")
- ``greedy``     the manager-style greedy (statutory first), with its Lagrangian bound
- ``cpsat``      a straightforward CP-SAT model of the whole problem, same time limit
- ``highs``      HiGHS as a generic MIP on the same model, ``--highs`` seconds
                 (needs ``pip install highspy``; skipped otherwise)
- ``scip``       SCIP (bundled with OR-Tools) as a generic MIP on the same model,
                 ``--scip`` seconds, one thread

Wall-clock figures are indicative: compare ratios within one run, on one machine.

``--profile`` switches to the gated, deterministic profiles of ``gate.py``: one
thread, fixed seeds and budgets, each result compared with the committed
baseline; a quality regression exits 1, wall time is only reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gate  # noqa: E402  (a sibling script, importable once HERE is on the path)


def _one(args: argparse.Namespace) -> None:
    """Child process: solve one instance with one solver, print a JSON row."""
    import caseload as cl
    from caseload.check import check_result
    from caseload.compile import compile_instance
    from caseload.solve import build_result, solve_problem

    started = time.perf_counter()
    instance = cl.read_instance(args.instance)
    # As caseload.solve() does: compiling counts against the time limit.
    compiling = time.perf_counter()
    compiled = compile_instance(instance)
    p = compiled.problem
    row: dict[str, Any] = {}
    if args.solver in ("highs", "scip"):
        from mip import solve_highs, solve_scip

        from caseload.solvers.base import SolverOutput

        # As for caseload: compiling the instance is not counted, building the model is.
        if args.solver == "highs":
            out = solve_highs(p, time_limit=args.seconds, threads=2)
        else:
            out = solve_scip(p, time_limit=args.seconds)
        output = SolverOutput(out["assignment"], out["bound"], args.solver)
        if out["assignment"] is None:
            print(json.dumps({"objective": None, "bound": out["bound"], "check": "no solution"}))
            return
    elif args.solver == "cpsat":
        from caseload.solvers.cpsat import solve_cpsat

        # The straightforward model: no warm start, no decomposition.
        output = solve_cpsat(
            p, time_limit=args.seconds - (time.perf_counter() - started), seed=args.seed, threads=2
        )
        if output.assignment is None:
            print(json.dumps({"objective": None, "bound": output.bound, "check": "no solution"}))
            return
    else:
        strategy = {"caseload": "auto", "long": "auto", "greedy": "greedy"}[args.solver]
        output = solve_problem(
            p,
            time_limit=args.seconds - (time.perf_counter() - compiling),
            seed=args.seed,
            threads=2,
            strategy=strategy,
        )
    solve_seconds = time.perf_counter() - started
    result = build_result(compiled, output, solve_seconds)
    report = check_result(instance.to_dict(), json.loads(json.dumps(result.to_dict())))
    row.update(
        objective=result.objective["total"],
        statutory=int(result.objective["statutory"]),
        unallocated=len(result.unallocated),
        bound=result.bound,
        source=result.bound_source,
        seconds=time.perf_counter() - started,
        solve_seconds=solve_seconds,
        check="ok" if report.ok else f"FAILED ({len(report.violations)})",
        pairs=int(p.num_pairs),
        stats={k: v for k, v in result.statistics.items() if isinstance(v, (int, float, str))},
        peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(json.dumps(row))


def run_one(instance: Path, solver: str, seconds: float, seed: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--one",
        "--instance",
        str(instance),
        "--solver",
        solver,
        "--seconds",
        str(seconds),
        "--seed",
        str(seed),
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "wall": wall}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["wall"] = wall
    return row


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


TABLE_HEAD = (
    "| instance | solver | seconds | statutory unalloc. | unallocated | objective | bound "
    f"| gap | peak MiB | check |\n|{'---|' * 10}"
)


def print_row(name: str, solver: str, row: dict[str, Any]) -> None:
    """One solve's line of the quality table (see :data:`TABLE_HEAD`)."""
    if "error" in row:
        print(f"| {name} | {solver} | error: {row['error']} |", flush=True)
        return
    gap = None
    if row["bound"] is not None and row["objective"] is not None:
        gap = (row["objective"] - row["bound"]) / max(abs(row["objective"]), 1)
    print(
        f"| {name} | {solver} | {row['wall']:.1f} | {row.get('statutory', '-')} "
        f"| {row.get('unallocated', '-')} | {_fmt(row['objective'], ',.1f')} "
        f"| {_fmt(row['bound'], ',.1f')} | {_fmt(gap and 100 * gap, '.2f')}% "
        f"| {_fmt(row.get('peak_mib'), '.0f')} | {row.get('check', '-')} |",
        flush=True,
    )


def authorities(args: argparse.Namespace, workdir: Path) -> None:
    from caseload.generate import generate_authority

    solvers = list(args.solvers)
    if args.long:
        solvers.append("long")
    if args.highs:
        try:
            import highspy  # noqa: F401

            solvers.append("highs")
        except ImportError:
            print("highspy not installed: HiGHS column skipped", file=sys.stderr)
    if args.scip:
        solvers.append("scip")
    print(TABLE_HEAD)
    for size in args.sizes:
        for seed in args.seeds:
            path = workdir / f"{size}-{seed}.json"
            path.write_text(json.dumps(generate_authority(size, seed)))
            rows = {}
            for solver in solvers:
                seconds = {"long": args.long, "highs": args.highs, "scip": args.scip}.get(
                    solver, args.time_limit
                )
                rows[solver] = row = run_one(path, solver, seconds, seed)
                print_row(f"{size}-{seed}", solver, row)
            objs = {k: r["objective"] for k, r in rows.items() if r.get("objective") is not None}
            bounds = [r["bound"] for r in rows.values() if r.get("bound") is not None]
            if objs and bounds and max(bounds) > min(objs.values()) * (1 + 1e-9) + 1e-9:
                print(f"| {size}-{seed} | **a bound exceeds an allocation** | |")


def gap_files(args: argparse.Namespace) -> list[dict[str, Any]]:
    from caseload.gap import read_gap, solve_gap

    gap_dir = HERE / "data" / "gap"
    with open(gap_dir / "bestknown.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    print("| problem | sense | best known | objective | bound | status | seconds |")
    print("|---|---|---|---|---|---|---|")
    worst = 0.0
    results = []
    for r in rows:
        inst = read_gap(gap_dir / r["file"])[int(r["problem"]) - 1]
        started = time.perf_counter()
        out = solve_gap(inst, sense=r["sense"], time_limit=args.gap_time_limit, threads=2)
        seconds = time.perf_counter() - started
        worst = max(worst, seconds)
        proved = out["objective"] == int(r["best_known"]) and out["status"] == "optimal"
        results.append({"proved": proved, "seconds": seconds})
        mark = "" if proved else " **"
        print(
            f"| {r['instance']} | {r['sense']} | {r['best_known']} | {out['objective']}{mark} "
            f"| {out['bound']} | {out['status']} | {seconds:.1f} |",
            flush=True,
        )
    print(f"\nslowest: {worst:.1f} s")
    return results


def _peers(args: argparse.Namespace) -> None:
    """The release tables: the peers side by side on medium, large and county
    authorities (two threads, wall-clock budgets), then the GAP files."""
    print(f"<!-- {' '.join(sys.argv)} ; {time.strftime('%Y-%m-%d')} ; {os.cpu_count()} cores -->")
    with tempfile.TemporaryDirectory() as tmp:
        for sizes, limit, solvers in (
            (["medium", "large"], 10.0, ["caseload", "greedy", "cpsat"]),
            (["county"], 30.0, ["caseload", "greedy"]),
        ):
            table = argparse.Namespace(**{**vars(args), "sizes": sizes, "seeds": [0, 1, 2]})
            table.time_limit, table.solvers = limit, solvers
            authorities(table, Path(tmp))
    gap_files(args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", nargs="+", help="default: medium large (with --targets: and county)"
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument(
        "--solvers", nargs="+", default=["caseload", "greedy", "cpsat"], help="of the above"
    )
    parser.add_argument("--long", type=float, default=0.0, help="also run caseload this long")
    parser.add_argument("--highs", type=float, default=0.0, help="also run HiGHS this long")
    parser.add_argument("--scip", type=float, default=0.0, help="also run SCIP this long")
    parser.add_argument("--gap", action="store_true", help="the OR-Library GAP table instead")
    parser.add_argument(
        "--targets", action="store_true", help="judge the scale targets (see targets.py)"
    )
    parser.add_argument("--gap-time-limit", type=float, default=15.0)
    gate.add_arguments(parser)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--instance", help=argparse.SUPPRESS)
    parser.add_argument("--solver", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        status = gate.run_profile(
            args.profile,
            out=args.out,
            only=args.only,
            update_baseline=args.update_baseline,
            baseline_path=args.baseline,
            repeat=args.repeat,
        )
        if args.profile == "full" and not args.only:
            _peers(args)
        sys.exit(status)
    if args.update_baseline or args.repeat or args.only:
        parser.error("--update-baseline, --repeat and --only go with --profile")
    if args.one:
        _one(args)
        return
    print(f"<!-- {' '.join(sys.argv)} ; {time.strftime('%Y-%m-%d')} ; {os.cpu_count()} cores -->")
    if args.gap:
        gap_files(args)
        return
    if args.targets:
        import targets

        with tempfile.TemporaryDirectory() as tmp:
            verdicts = targets.run(
                args, Path(tmp), run_one, print_row, TABLE_HEAD, lambda: gap_files(args)
            )
        targets.print_verdicts(verdicts)
        return
    args.sizes = args.sizes or ["medium", "large"]
    with tempfile.TemporaryDirectory() as tmp:
        authorities(args, Path(tmp))


if __name__ == "__main__":
    main()
