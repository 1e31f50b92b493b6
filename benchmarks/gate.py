"""Benchmark profiles whose quality decides the build and whose wall time never does.

    python benchmarks/quality.py --profile ci                    # the CI gate, ~3 minutes
    python benchmarks/quality.py --profile ci --update-baseline  # accept the new figures
    python benchmarks/quality.py --profile full                  # more and larger instances

Each instance is solved in its own process with one thread, a fixed seed and a
fixed deterministic budget (``work=``, CP-SAT's and GLOP's deterministic time
and iteration counts), with the wall clock only as a generous guard
(:data:`WALL_STRETCH` times the budget). The same code therefore gives the same
allocation on any machine, so quality can be compared exactly with the
committed baseline (``benchmarks/baseline.json``); a run whose phase the clock
cut anyway is reported as ``wall-limited`` and fails the gate:

- FAIL when a statutory case is newly left unallocated, when a total gets worse
  than the baseline by more than :data:`TOLERANCE` (relative), when a result
  fails the independent checker, or when an instance fails to produce a result;
- REPORT wall time, model-build time and peak memory as ratios to the baseline,
  never judging them: they depend on the machine.

Outputs, under ``--out`` (default ``bench-out/`` at the repository root):
``quality.json`` (deterministic fields only, sorted keys: two runs of the same
code give the same file), ``timings.json`` (wall seconds, build seconds, peak
memory, machine) and ``results/`` (each instance's allocation).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from caseload.solve import default_work, solve_problem

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GAP_DIR = HERE / "data" / "gap"
DEFAULT_OUT = ROOT / "bench-out"
BASELINES = {"ci": HERE / "baseline.json", "full": HERE / "baseline-full.json"}

#: A total may exceed its baseline by this fraction of the baseline before the
#: gate fails. Runs are deterministic, so any change at all comes from the
#: code; the tolerance only lets through small trade-offs (a change that helps
#: most instances and costs one a little) without a baseline update.
TOLERANCE = 0.005

#: Wall-clock guard per instance, in seconds. It exists only so a hung solve
#: cannot hang CI; reaching it is reported as an error, not as slowness.
HANG_GUARD = 1800.0

#: The wall-clock guard given to the solver, in multiples of the budget: the
#: deterministic work limit is what should end every phase.
WALL_STRETCH = 5.0

#: Deterministic fields, in table order; everything else is a timing.
QUALITY_KEYS = (
    "statutory",
    "unallocated",
    "total",
    "terms",
    "bound",
    "gap",
    "status",
    "check",
    "allocation_sha256",
)


@dataclass(frozen=True)
class Case:
    """One benchmark instance: a generated authority or an OR-Library GAP problem.

    ``budget`` is the ``time_limit`` whose deterministic work
    (:func:`caseload.solve.default_work`) the solver is given.
    """

    name: str
    kind: str  # "authority" or "gap"
    budget: float
    size: str = ""
    seed: int = 0
    file: str = ""
    problem: int = 1

    def describe(self) -> str:
        """Where the instance comes from, for the JSON files."""
        if self.kind == "authority":
            return f"generate_authority({self.size!r}, {self.seed})"
        return f"{self.file} problem {self.problem} (min)"


def _authority(size: str, seed: int, budget: float) -> Case:
    return Case(f"{size}-{seed}", "authority", budget, size=size, seed=seed)


def _gap(name: str, file: str, problem: int, budget: float) -> Case:
    return Case(name, "gap", budget, file=file, problem=problem)


#: Instances per profile. The CI set runs in about two minutes on two cores:
#: two small authorities (the full CP-SAT model; one dominated by statutory
#: cases that cannot be placed, one not), two medium ones (the large-neighbourhood
#: search path; medium-1 is so overloaded that keeping statutory cases placed is
#: the hard part), two small GAP problems that must stay proved optimal, and two
#: larger ones, one of which (c10200) is not proved within its budget, so a
#: weaker search shows in its total.
PROFILES: dict[str, tuple[Case, ...]] = {
    "ci": (
        _authority("small", 0, 10.0),
        _authority("small", 1, 10.0),
        _authority("medium", 0, 20.0),
        _authority("medium", 1, 20.0),
        _gap("gap1-1", "gap1.txt", 1, 5.0),
        _gap("gap12-1", "gap12.txt", 1, 5.0),
        _gap("c10100", "gapc.txt", 3, 10.0),
        _gap("c10200", "gapc.txt", 4, 10.0),
    ),
    "full": (
        *(_authority(size, seed, 30.0) for size in ("small", "medium") for seed in (0, 1, 2)),
        *(_authority("large", seed, 60.0) for seed in (0, 1, 2)),
        *(_gap(f"gap{k}-1", f"gap{k}.txt", 1, 10.0) for k in range(1, 13)),
        *(
            _gap(f"{t}{size}", f"gap{t}.txt", i + 1, 30.0)
            for t in "abc"
            for i, size in enumerate(("05100", "05200", "10100", "10200", "20100", "20200"))
        ),
    ),
}


# --------------------------------------------------------------------------- #
# Deterministic budget                                                         #
# --------------------------------------------------------------------------- #


# --------------------------------------------------------------------------- #
# One instance (child process)                                                 #
# --------------------------------------------------------------------------- #


def _sha256(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _peak_mib() -> float:
    """This process's maximum resident set so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes vs KiB


def _clean(value: float | None) -> float | None:
    # Rounded so that last-digit float noise cannot make two equal runs differ.
    return None if value is None else round(float(value), 6)


def solve_authority(case: Case, out_dir: Path | None = None) -> dict[str, Any]:
    """Generate, compile, solve (one thread) and independently check an authority.

    Returns a row with :data:`QUALITY_KEYS` and the timings ``build_seconds``
    and ``solve_seconds``.
    """
    from caseload.check import check_result
    from caseload.compile import compile_instance
    from caseload.data import Instance
    from caseload.generate import generate_authority
    from caseload.solve import build_result

    started = time.perf_counter()
    data = generate_authority(case.size, case.seed)
    instance = Instance.from_dict(data)
    compiled = compile_instance(instance)
    built = time.perf_counter()
    output = solve_problem(
        compiled.problem,
        time_limit=WALL_STRETCH * case.budget,
        work=default_work(case.budget, compiled.problem.num_pairs),
        seed=case.seed,
        threads=1,
    )
    solved = time.perf_counter()
    result = build_result(compiled, output, solved - built).to_dict()
    report = check_result(data, json.loads(json.dumps(result)))
    if out_dir is not None:
        (out_dir / f"{case.name}.json").write_text(json.dumps(result, indent=1))
    terms = {k: _clean(v) for k, v in result["objective"].items() if k != "total"}
    return {
        "statutory": int(result["objective"]["statutory"]),
        "unallocated": len(result["unallocated"]),
        "total": _clean(result["objective"]["total"]),
        "terms": terms,
        "bound": _clean(result["bound"]),
        "gap": _clean(result["gap"]),
        "status": result["status"],
        "check": (
            "ok"
            if report.ok and not output.statistics.get("wall_limited")
            # The clock cut a phase: the run may not repeat, so it cannot gate.
            else "wall-limited"
            if report.ok
            else f"{len(report.violations)} violations"
        ),
        "violations": list(report.violations[:5]),
        "allocation_sha256": _sha256(
            sorted((a["case"], a["worker"]) for a in result["assignments"])
        ),
        "build_seconds": built - started,
        "solve_seconds": solved - built,
    }


def check_gap(
    cost: np.ndarray, usage: np.ndarray, capacity: np.ndarray, out: Mapping[str, Any]
) -> list[str]:
    """Independent check of a GAP answer from the file's own matrices.

    Every job on exactly one existing agent, every capacity respected, the
    stated objective equal to the recomputed cost, the bound not above it.
    Returns the list of violations (empty when the answer holds).
    """
    agents, jobs = cost.shape
    assignment = out.get("assignment") or []
    if len(assignment) != jobs:
        return [f"assignment: {len(assignment)} jobs assigned, {jobs} expected"]
    problems = [
        f"job {j}: agent {a} does not exist"
        for j, a in enumerate(assignment)
        if not 0 <= a < agents
    ]
    if problems:
        return problems
    load = np.zeros(agents, dtype=np.int64)
    for j, a in enumerate(assignment):
        load[a] += usage[a, j]
    problems += [
        f"agent {i}: load {load[i]} > capacity {capacity[i]}"
        for i in range(agents)
        if load[i] > capacity[i]
    ]
    total = int(sum(cost[a, j] for j, a in enumerate(assignment)))
    if total != out.get("objective"):
        problems.append(f"objective: stated {out.get('objective')}, recomputed {total}")
    if out.get("bound") is not None and out["bound"] > total:
        problems.append(f"bound: {out['bound']} above the objective {total}")
    return problems


def solve_gap_case(case: Case, out_dir: Path | None = None) -> dict[str, Any]:
    """Solve one OR-Library GAP problem (minimisation, one thread) and check it."""
    from caseload.gap import read_gap, solve_gap

    started = time.perf_counter()
    instance = read_gap(GAP_DIR / case.file)[case.problem - 1]
    instance.to_problem("min")  # timed as the model build; solve_gap builds its own
    built = time.perf_counter()
    out = solve_gap(
        instance,
        sense="min",
        time_limit=WALL_STRETCH * case.budget,
        work=default_work(case.budget),
        seed=case.seed,
        threads=1,
    )
    solved = time.perf_counter()
    if out_dir is not None:
        (out_dir / f"{case.name}.json").write_text(json.dumps(out))
    violations = check_gap(instance.cost, instance.usage, instance.capacity, out)
    total, bound = out["objective"], out["bound"]
    assigned = out.get("assignment") or []
    return {
        # Every GAP job is mandatory: the statutory column counts jobs not placed.
        "statutory": instance.jobs - len(assigned),
        "unallocated": instance.jobs - len(assigned),
        "total": total,
        "terms": {"cost": total},
        "bound": bound,
        "gap": None
        if total is None or bound is None
        else _clean((total - bound) / max(abs(total), 1)),
        "status": out["status"],
        "check": "ok" if not violations else f"{len(violations)} violations",
        "violations": violations[:5],
        "allocation_sha256": _sha256(assigned),
        "build_seconds": built - started,
        "solve_seconds": solved - built,
    }


def run_case(case: Case, out_dir: Path | None = None) -> dict[str, Any]:
    """Solve ``case`` in this process; the row also carries ``peak_mib``."""
    solver = solve_authority if case.kind == "authority" else solve_gap_case
    row = solver(case, out_dir)
    row["peak_mib"] = _peak_mib()
    return row


def _child(profile: str, name: str, out_dir: str) -> None:
    case = next(c for c in PROFILES[profile] if c.name == name)
    print(json.dumps(run_case(case, Path(out_dir))))


def run_isolated(profile: str, case: Case, out_dir: Path) -> dict[str, Any]:
    """Solve ``case`` in a fresh process, so peak memory is this solve's alone."""
    cmd = [sys.executable, __file__, "--child", profile, case.name, str(out_dir)]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"no result within the {HANG_GUARD:.0f} s hang guard"}
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {last}", "wall_seconds": wall}
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    row["wall_seconds"] = wall
    return row


# --------------------------------------------------------------------------- #
# Comparison                                                                   #
# --------------------------------------------------------------------------- #


def split_row(row: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A row's deterministic fields (compared, baselined) and its timings (reported)."""
    if "error" in row:
        return {"error": row["error"]}, {k: row[k] for k in ("wall_seconds",) if k in row}
    quality = {k: row[k] for k in QUALITY_KEYS}
    if row.get("violations"):
        quality["violations"] = list(row["violations"])
    timings = {
        k: round(float(row[k]), 3)
        for k in ("wall_seconds", "build_seconds", "solve_seconds", "peak_mib")
        if k in row
    }
    return quality, timings


def compare(
    baseline: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]],
    tolerance: float = TOLERANCE,
) -> tuple[list[str], list[str]]:
    """Quality of ``current`` against ``baseline``, both ``{instance: quality row}``.

    Returns ``(failures, notes)``: a failure is a result that fails the
    independent checker or has no result, a statutory case newly unallocated,
    or a total worse than the baseline's by more than ``tolerance`` (relative);
    notes are everything else worth saying (improvements, new instances, a
    changed allocation of equal total). Each message names the instance and
    the figure.
    """
    failures: list[str] = []
    notes: list[str] = []
    for name, row in current.items():
        if "error" in row:
            failures.append(f"{name}: no result ({row['error']})")
            continue
        if row.get("check") != "ok":
            first = "; ".join(row.get("violations") or [])
            failures.append(f"{name}: independent check failed, {row.get('check')}: {first}")
        base = baseline.get(name)
        if base is None or "error" in base:
            notes.append(f"{name}: no baseline to compare with")
            continue
        if row["statutory"] > base["statutory"]:
            failures.append(
                f"{name}: statutory unallocated {row['statutory']} > baseline {base['statutory']}"
            )
        total, before = row["total"], base["total"]
        if total is None:
            failures.append(f"{name}: no total (baseline {before})")
            continue
        change = (total - before) / max(abs(before), 1.0)
        if change > tolerance:
            failures.append(
                f"{name}: total {total:,.6g} > baseline {before:,.6g} "
                f"({100 * change:+.2f}%, tolerance {100 * tolerance:.1f}%)"
            )
        elif change < -1e-9:
            notes.append(
                f"{name}: total {total:,.6g} < baseline {before:,.6g} ({100 * change:+.2f}%): "
                "better; update the baseline to keep it"
            )
        elif change > 1e-9:
            notes.append(
                f"{name}: total {total:,.6g} > baseline {before:,.6g} ({100 * change:+.2f}%), "
                f"within the {100 * tolerance:.1f}% tolerance"
            )
        if row["statutory"] < base["statutory"]:
            notes.append(
                f"{name}: statutory unallocated {row['statutory']} < baseline {base['statutory']}"
            )
        if row.get("allocation_sha256") != base.get("allocation_sha256") and abs(change) <= 1e-9:
            notes.append(f"{name}: allocation differs from the baseline's at the same total")
    for name in baseline:
        if name not in current:
            notes.append(f"{name}: in the baseline, not run")
    return failures, notes


def _ratio(now: float | None, before: float | None) -> str:
    if now is None or not before:
        return "-"
    return f"×{now / before:.2f}"


def table(
    quality: Mapping[str, Mapping[str, Any]],
    timings: Mapping[str, Mapping[str, Any]],
    baseline: Mapping[str, Any] | None,
    failures: Sequence[str],
) -> str:
    """The quality table, in Markdown; timings as ratios to the baseline's."""
    base_q = (baseline or {}).get("quality", {})
    base_t = (baseline or {}).get("timings", {})
    lines = [
        "| instance | statutory | total | bound | gap | seconds | peak MiB | vs baseline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, q in quality.items():
        t = timings.get(name, {})
        if "error" in q:
            lines.append(f"| {name} | error | | | | | | FAIL: {q['error']} |")
            continue
        bq, bt = base_q.get(name), base_t.get(name, {})
        if bq is None or "error" in bq:
            versus = "no baseline"
        else:
            change = (q["total"] - bq["total"]) / max(abs(bq["total"]), 1.0)
            seconds = _ratio(t.get("wall_seconds"), bt.get("wall_seconds"))
            peak = _ratio(t.get("peak_mib"), bt.get("peak_mib"))
            versus = f"total {100 * change:+.2f}%, time {seconds}, peak {peak}"
        if any(f.startswith(f"{name}:") for f in failures):
            versus = f"**FAIL** {versus}"
        gap = "-" if q["gap"] is None else f"{100 * q['gap']:.2f}%"
        bound = "-" if q["bound"] is None else f"{q['bound']:,.1f}"
        lines.append(
            f"| {name} | {q['statutory']} | {q['total']:,.1f} | {bound} | {gap} "
            f"| {t.get('wall_seconds', 0):.1f} | {t.get('peak_mib', 0):.0f} | {versus} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Driver                                                                       #
# --------------------------------------------------------------------------- #


def _machine() -> dict[str, Any]:
    import ortools

    return {
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "ortools": ortools.__version__,
        "numpy": np.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def run_profile(
    profile: str,
    *,
    out: Path = DEFAULT_OUT,
    only: Sequence[str] = (),
    update_baseline: bool = False,
    baseline_path: Path | None = None,
    repeat: bool = False,
    runner: Callable[[str, Case, Path], dict[str, Any]] = run_isolated,
) -> int:
    """Run a profile, write its files, compare with the baseline; the exit status.

    ``repeat`` solves every instance twice and fails if the two quality rows
    differ: the check that the profile is deterministic on this machine.
    """
    cases = [c for c in PROFILES[profile] if not only or c.name in only]
    unknown = sorted(set(only) - {c.name for c in cases})
    if unknown:
        print(f"not in profile {profile}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    baseline_path = baseline_path or BASELINES[profile]
    results_dir = out / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    quality: dict[str, dict[str, Any]] = {}
    timings: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    started = time.perf_counter()
    for case in cases:
        row = runner(profile, case, results_dir)
        quality[case.name], timings[case.name] = split_row(row)
        if repeat:
            again, _ = split_row(runner(profile, case, results_dir))
            if again != quality[case.name]:
                failures.append(f"{case.name}: not deterministic, two runs gave different results")
        q, t = quality[case.name], timings[case.name]
        summary = (
            q.get("error") or f"total {q['total']:,.1f}, statutory {q['statutory']}, {q['check']}"
        )
        print(f"{case.name}: {summary} ({t.get('wall_seconds', 0):.1f} s)", flush=True)
    total_seconds = time.perf_counter() - started

    meta = {
        "profile": profile,
        "tolerance": TOLERANCE,
        "instances": {
            c.name: {"source": c.describe(), "budget": c.budget, "seed": c.seed} for c in cases
        },
    }
    _write_json(out / "quality.json", {**meta, "quality": quality})
    _write_json(
        out / "timings.json",
        {
            "profile": profile,
            "machine": _machine(),
            "total_seconds": round(total_seconds, 1),
            "timings": timings,
        },
    )

    baseline = json.loads(baseline_path.read_text()) if baseline_path.exists() else None
    base_quality = (baseline or {}).get("quality", {})
    if only:
        # A partial run says nothing about the instances it left out.
        base_quality = {k: v for k, v in base_quality.items() if k in only}
    failed, notes = compare(base_quality, quality)
    failures += failed
    if baseline is None:
        # A first baseline needs no list of instances that had none.
        notes = (
            [] if update_baseline else [f"no baseline at {baseline_path}: nothing to compare with"]
        )

    status = 0
    if update_baseline:
        broken = [
            f
            for f in failures
            if "independent check" in f or "no result" in f or "not deterministic" in f
        ]
        if broken:
            print("baseline NOT updated: these results cannot be a baseline:", file=sys.stderr)
            for f in broken:
                print(f"  {f}", file=sys.stderr)
            status = 1
        else:
            for f in failures:
                print(f"accepted: {f}")
            _write_json(
                baseline_path,
                {**meta, "quality": quality, "timings": timings, "machine": _machine()},
            )
            print(f"baseline updated: {baseline_path}")
            failures = []
    for note in notes:
        print(f"note: {note}")
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        status = 1
    verdict = "FAILED" if status else "passed"
    print(
        f"\nquality gate {verdict}: {len(failures)} failure(s), {len(cases)} instance(s), "
        f"{total_seconds:.0f} s (wall time is reported, never judged)"
    )
    print(f"output: {out}\n")
    print(table(quality, timings, baseline if not update_baseline else None, failures))
    return status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the profile mode, shared with ``quality.py``."""
    parser.add_argument("--profile", choices=sorted(PROFILES), help="run a gated profile")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--only", nargs="+", default=(), help="these instances of the profile")
    parser.add_argument(
        "--update-baseline", action="store_true", help="write this run as the profile's baseline"
    )
    parser.add_argument("--baseline", type=Path, help="compare with this file instead")
    parser.add_argument(
        "--repeat", action="store_true", help="solve each instance twice; fail if they differ"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``gate.py --profile ci`` (or through ``quality.py``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        _child(*argv[1:4])
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_profile(
        args.profile or "ci",
        out=args.out,
        only=args.only,
        update_baseline=args.update_baseline,
        baseline_path=args.baseline,
        repeat=args.repeat,
    )


if __name__ == "__main__":
    sys.exit(main())
