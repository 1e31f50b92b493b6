"""The ``caseload`` command.

Exit codes: 0 success; 1 the output does not pass a check (or no allocation
could be found for a GAP file in time); 2 invalid input or usage, with the
problems on stderr and nothing written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from caseload.errors import InvalidInstanceError

EXIT_OK, EXIT_CHECK, EXIT_INPUT = 0, 1, 2


class _UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseload",
        description="Allocate children's social care cases to social workers, with reasons.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def solver_flags(p: argparse.ArgumentParser, default_limit: float) -> None:
        p.add_argument(
            "--time-limit",
            type=float,
            default=default_limit,
            help=f"wall-clock seconds after the input is read (default {default_limit:g})",
        )
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--threads", type=int, default=2, help="solver threads (default 2)")

    demo = sub.add_parser("demo", help="solve a built-in city authority and print a summary")
    demo.add_argument("--size", default="medium", choices=("small", "medium", "large", "county"))
    demo.add_argument(
        "--instance-seed", type=int, default=0, help="seed of the generated authority"
    )
    demo.add_argument("-o", "--output", help="also write the result JSON here")
    solver_flags(demo, 10.0)

    solve = sub.add_parser("solve", help="solve an instance file and write a result file")
    solve.add_argument("instance")
    solve.add_argument("-o", "--output", required=True, help="result path, or - for stdout")
    solve.add_argument("--progress", action="store_true", help="show progress on a terminal")
    solve.add_argument("--log", action="store_true", help="print the solver's search log")
    solve.add_argument("--allocation-csv", help="also write one row per case as CSV here")
    solve.add_argument("--workers-csv", help="also write one row per worker as CSV here")
    solve.add_argument(
        "--max-moves",
        type=int,
        help="daily use: keep current workers, place new cases, and move at most this many "
        "existing cases beyond those that must move (fast; no bound is proved)",
    )
    solver_flags(solve, 10.0)

    explain = sub.add_parser(
        "explain", help="explain a case's allocation, or every move, in plain words"
    )
    explain.add_argument("instance")
    explain.add_argument("result")
    explain.add_argument("--case", action="append", default=[], help="case id (repeatable)")
    explain.add_argument("--moves", action="store_true", help="explain every move")

    check = sub.add_parser("check", help="independently check a result against its instance")
    check.add_argument("instance")
    check.add_argument("result")

    gap = sub.add_parser("gap", help="solve an OR-Library generalised assignment problem")
    gap.add_argument("file")
    gap.add_argument("--problem", type=int, default=1, help="1-based problem number")
    gap.add_argument("--sense", choices=("min", "max"), default="min")
    solver_flags(gap, 10.0)

    imp = sub.add_parser(
        "import-csv", help="read case-management CSV files into an instance JSON file"
    )
    imp.add_argument(
        "folder",
        help="folder with workers.csv and cases.csv (and optionally localities.csv, "
        "travel.csv, case_types.csv)",
    )
    imp.add_argument("-o", "--output", required=True, help="instance path, or - for stdout")
    imp.add_argument("--name", help="the instance's name")
    imp.add_argument("--case-type-map", help="JSON file: the system's case-type labels to ids")
    imp.add_argument("--skill-map", help="JSON file: the system's skill labels to skills")

    report = sub.add_parser(
        "report", help="write a one-page HTML report of a result, with trade-offs"
    )
    report.add_argument("instance")
    report.add_argument("result")
    report.add_argument("-o", "--output", required=True, help="HTML path")
    report.add_argument(
        "--tradeoff-seconds",
        type=float,
        default=2.0,
        help="solve time per trade-off point and capacity re-solve (default 2)",
    )
    report.add_argument(
        "--no-tradeoffs",
        action="store_true",
        help="leave out the trade-off curve and the value of capacity (no solving)",
    )
    report.add_argument("--threads", type=int, default=2, help="solver threads (default 2)")

    gen = sub.add_parser("generate", help="write a synthetic authority instance")
    gen.add_argument("--size", default="medium", choices=("small", "medium", "large", "county"))
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("-o", "--output", required=True)
    return parser


def _write(text: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _UsageError(f"{output}: cannot write ({exc.strerror or exc})") from None


def _read_instance(path: str) -> Any:
    from caseload.data import read_instance

    try:
        return read_instance(path)
    except OSError as exc:
        raise _UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _check_limits(args: argparse.Namespace) -> None:
    if not math.isfinite(args.time_limit) or args.time_limit <= 0:
        raise _UsageError(f"--time-limit must be a finite number > 0, got {args.time_limit}")
    if args.threads < 1:
        raise _UsageError(f"--threads must be >= 1, got {args.threads}")
    _check_seeds(args)
    if getattr(args, "max_moves", None) is not None and args.max_moves < 0:
        raise _UsageError(f"--max-moves must be >= 0, got {args.max_moves}")


def _check_seeds(args: argparse.Namespace) -> None:
    for flag in ("seed", "instance_seed"):
        value = getattr(args, flag, None)
        if value is not None and value < 0:
            raise _UsageError(f"--{flag.replace('_', '-')} must be >= 0, got {value}")


def _progress_printer(enabled: bool) -> Any:
    if not enabled:
        return None

    def show(point: Any) -> None:
        bound = "" if point.bound is None else f", bound {point.bound:,.1f}"
        sys.stderr.write(f"\r  {point.seconds:6.1f} s  objective {point.objective:,.1f}{bound}   ")
        sys.stderr.flush()

    return show


def _cmd_solve(args: argparse.Namespace) -> int:
    from caseload.solve import solve

    _check_limits(args)
    for flag, path in (
        ("--allocation-csv", args.allocation_csv),
        ("--workers-csv", args.workers_csv),
    ):
        if path == "-":
            raise _UsageError(f"{flag} needs a file path ('-' is for -o only)")
    instance = _read_instance(args.instance)
    _check_writable(args.output, args.allocation_csv, args.workers_csv)
    result = solve(
        instance,
        time_limit=args.time_limit,
        seed=args.seed,
        threads=args.threads,
        progress=_progress_printer(args.progress and sys.stderr.isatty()),
        log=args.log,
        max_moves=args.max_moves,
    )
    if args.progress and sys.stderr.isatty():
        sys.stderr.write("\n")
    _write(json.dumps(result.to_dict(), indent=1) + "\n", args.output)
    _write_csv_exports(args, result, instance)
    return EXIT_OK


def _check_writable(*paths: str | None) -> None:
    """Refuse before solving if an output's folder is missing or the output is a
    folder, so that nothing is half-written."""
    for path in paths:
        if path is None or path == "-":
            continue
        if Path(path).is_dir():
            raise _UsageError(f"{path}: cannot write (it is a folder)")
        folder = Path(path).resolve().parent
        if not folder.is_dir():
            raise _UsageError(f"{path}: cannot write (no folder {folder.name!r})")


def _write_csv_exports(args: argparse.Namespace, result: Any, instance: Any) -> None:
    from caseload.csvio import write_allocation_csv, write_workers_csv

    try:
        if args.allocation_csv:
            write_allocation_csv(result, args.allocation_csv, instance=instance)
        if args.workers_csv:
            write_workers_csv(result, args.workers_csv)
    except OSError as exc:
        raise _UsageError(f"{exc.filename}: cannot write ({exc.strerror or exc})") from None


def _label_map(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _UsageError(f"{path}: cannot read a JSON object ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise _UsageError(f"{path}: must be a JSON object of label to id")
    return data


def _cmd_import_csv(args: argparse.Namespace) -> int:
    from caseload.csvio import read_csv_folder

    case_type_map, skill_map = _label_map(args.case_type_map), _label_map(args.skill_map)
    try:
        instance = read_csv_folder(
            args.folder, case_type_map=case_type_map, skill_map=skill_map, name=args.name
        )
    except OSError as exc:
        raise _UsageError(
            f"{exc.filename or args.folder}: cannot read ({exc.strerror or exc})"
        ) from None
    _write(json.dumps(instance.to_dict(), indent=1) + "\n", args.output)
    return EXIT_OK


def _read_result_json(path: str) -> Any:
    from caseload.data import loads

    try:
        return loads(Path(path).read_bytes())
    except OSError as exc:
        raise _UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:
        raise _UsageError(f"{path}: not valid JSON ({exc})") from None


def _checked_result(instance: Any, data: Any, args: argparse.Namespace) -> Any:
    """The result checked against the (valid) instance, or ``None`` after
    listing its violations: exit 1 then, as ``caseload check`` does, not 2 as
    for bad input."""
    from caseload.result import result_from_dict

    try:
        return result_from_dict(instance, data)
    except InvalidInstanceError as exc:
        count = len(exc.problems)
        print(
            f"{args.result}: does not pass the check against {args.instance}: "
            f"{count} violation{'s' if count != 1 else ''}",
            file=sys.stderr,
        )
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None


def _cmd_explain(args: argparse.Namespace) -> int:
    from caseload.explain import explain_case, explain_moves

    instance = _read_instance(args.instance)
    data = _read_result_json(args.result)
    result = _checked_result(instance, data, args)
    if result is None:
        return EXIT_CHECK
    for case in args.case:
        print(explain_case(instance, result, case).text)
    if args.moves or not args.case:
        moves = explain_moves(instance, result)
        print(f"{len(moves)} case(s) changed worker:")
        for m in moves:
            to = m.to_worker or "unallocated"
            tag = " (had to move)" if m.forced else ""
            print(f"  {m.case}: {m.from_worker} -> {to}{tag}: {m.why}")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from caseload.report import write_report

    if not (math.isfinite(args.tradeoff_seconds) and args.tradeoff_seconds > 0):
        raise _UsageError(
            f"--tradeoff-seconds must be a finite number > 0, got {args.tradeoff_seconds}"
        )
    if args.threads < 1:
        raise _UsageError(f"--threads must be >= 1, got {args.threads}")
    instance = _read_instance(args.instance)
    _check_writable(args.output)
    data = _read_result_json(args.result)
    result = _checked_result(instance, data, args)
    if result is None:
        return EXIT_CHECK
    seconds = None if args.no_tradeoffs else args.tradeoff_seconds
    try:
        write_report(
            instance,
            result,
            args.output,
            tradeoff_seconds=seconds,
            capacity=not args.no_tradeoffs,
            threads=args.threads,
        )
    except OSError as exc:
        raise _UsageError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from caseload.data import Instance
    from caseload.generate import generate_authority
    from caseload.solve import solve

    _check_limits(args)
    started = time.perf_counter()
    instance = Instance.from_dict(generate_authority(args.size, args.instance_seed))
    built = time.perf_counter() - started
    result = solve(instance, time_limit=args.time_limit, seed=args.seed, threads=args.threads)
    from caseload.check import check_result

    report = check_result(instance.to_dict(), result.to_dict())
    teams = {w.base for w in instance.workers}
    print(
        f"Built-in {args.size} authority '{instance.name}': {len(teams)} localities with teams "
        f"and {len(instance.localities) - len(teams)} out-of-area placement areas, "
        f"{len(instance.workers)} workers, {len(instance.cases)} cases (generated in {built:.1f} s)"
    )
    print(result.summary({c.id: c.priority for c in instance.cases}))
    print(f"  Check:        {'passed' if report.ok else 'FAILED'} (independent checker)")
    for line in report.violations[:20]:
        print(f"    {line}")
    if args.output:
        _write(json.dumps(result.to_dict(), indent=1) + "\n", args.output)
    return EXIT_OK if report.ok else EXIT_CHECK


def _cmd_check(args: argparse.Namespace) -> int:
    from caseload.check import check_result
    from caseload.data import loads

    instance = _read_instance(args.instance)
    try:
        raw = Path(args.result).read_bytes()
    except OSError as exc:
        raise _UsageError(f"{args.result}: cannot read ({exc.strerror or exc})") from None
    try:
        result = loads(raw)
    except (ValueError, RecursionError) as exc:
        print(f"{args.result}: not valid JSON ({exc})", file=sys.stderr)
        return EXIT_CHECK
    report = check_result(instance.to_dict(), result)
    if report.ok:
        print(
            f"ok: {len(instance.cases)} cases, every hard constraint, objective and reason verified"
        )
        return EXIT_OK
    print(f"{len(report.violations)} violation(s):")
    for line in report.violations:
        print(f"  {line}")
    return EXIT_CHECK


def _cmd_gap(args: argparse.Namespace) -> int:
    from caseload.gap import read_gap, solve_gap

    _check_limits(args)
    try:
        problems = read_gap(args.file)
    except OSError as exc:
        raise _UsageError(f"{args.file}: cannot read ({exc.strerror or exc})") from None
    if not 1 <= args.problem <= len(problems):
        raise _UsageError(
            f"--problem must be between 1 and {len(problems)} for {args.file}, got {args.problem}"
        )
    out = solve_gap(
        problems[args.problem - 1],
        sense=args.sense,
        time_limit=args.time_limit,
        seed=args.seed,
        threads=args.threads,
    )
    if out["status"] == "unknown":
        print("no feasible assignment found within the time limit", file=sys.stderr)
        return EXIT_CHECK
    print(json.dumps(out))
    return EXIT_OK


def _cmd_generate(args: argparse.Namespace) -> int:
    from caseload.generate import generate_authority

    _check_seeds(args)
    _write(json.dumps(generate_authority(args.size, args.seed), indent=1) + "\n", args.output)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    commands = {
        "solve": _cmd_solve,
        "demo": _cmd_demo,
        "check": _cmd_check,
        "gap": _cmd_gap,
        "generate": _cmd_generate,
        "explain": _cmd_explain,
        "import-csv": _cmd_import_csv,
        "report": _cmd_report,
    }
    try:
        return commands[args.command](args)
    except InvalidInstanceError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_INPUT
    except _UsageError as exc:
        print(f"caseload: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("caseload: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (``| head``) went away; what it wanted was written.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
