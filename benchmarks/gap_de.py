"""Tight generalised assignment problems of types D and E, generated, solved and checked.

    python benchmarks/gap_de.py                      # 20x200, 40x400, 80x1600; 15 s each
    python benchmarks/gap_de.py --sizes 80x1600 --seeds 1 2 3 --time-limit 15

The literature's hardest GAP classes (Chu and Beasley's recipes, as in the
instances of Laguna et al.): type D, ``a_ij ~ U[1, 100]``,
``c_ij = 111 - a_ij + U[-10, 10]``; type E, ``a_ij = 1 - 10 ln U(0, 1)``,
``c_ij = 1000 / a_ij - 10 U(0, 1)`` (rounded down); capacities
``b_i = 0.8 sum_j a_ij / m``. Known optima are rare and these are fresh draws,
so the reference is the proven bound: the table shows objective, bound and
gap, and every answer is checked from the matrices themselves (every job on
one agent, every capacity, the stated cost). Each problem is also written in
OR-Library format under ``--out`` so that ``caseload gap FILE`` can be run on it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gate import check_gap  # noqa: E402  (a sibling script)


def generate(kind: str, m: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Costs, resource uses and capacities of one type-D or type-E problem."""
    rng = np.random.default_rng(seed)
    if kind == "d":
        usage = rng.integers(1, 101, size=(m, n))
        cost = 111 - usage + rng.integers(-10, 11, size=(m, n))
    else:
        usage = np.floor(1 - 10 * np.log(rng.random((m, n)))).astype(np.int64)
        cost = np.floor(1000 / usage - 10 * rng.random((m, n))).astype(np.int64)
    capacity = np.floor(0.8 * usage.sum(axis=1) / m).astype(np.int64)
    return cost, usage, capacity


def write_orlib(path: Path, cost: np.ndarray, usage: np.ndarray, capacity: np.ndarray) -> None:
    """One problem in OR-Library format, readable by ``caseload gap``."""
    m, n = cost.shape
    rows = ["1", f"{m} {n}"]
    rows += [" ".join(map(str, r)) for r in cost]
    rows += [" ".join(map(str, r)) for r in usage]
    rows.append(" ".join(map(str, capacity)))
    path.write_text("\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["20x200", "40x400", "80x1600"])
    parser.add_argument("--kinds", nargs="+", default=["d", "e"], choices=["d", "e"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--time-limit", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench-out/gap-de"))
    args = parser.parse_args(argv)

    from caseload.gap import parse_gap, solve_gap

    args.out.mkdir(parents=True, exist_ok=True)
    print(f"<!-- benchmarks/gap_de.py {' '.join(argv or sys.argv[1:])} -->")
    print("| problem | objective | bound | gap | seconds | check |")
    print("|---|---|---|---|---|---|")
    failures = 0
    for size in args.sizes:
        m, n = (int(v) for v in size.split("x"))
        for kind in args.kinds:
            for seed in args.seeds:
                name = f"{kind}{m}x{n}-{seed}"
                cost, usage, capacity = generate(kind, m, n, seed)
                path = args.out / f"{name}.txt"
                write_orlib(path, cost, usage, capacity)
                instance = parse_gap(path.read_text(), str(path))[0]
                started = time.perf_counter()
                out = solve_gap(instance, time_limit=args.time_limit, threads=args.threads)
                seconds = time.perf_counter() - started
                if out["objective"] is None:
                    verdict, gap = "no allocation", "-"
                    failures += 1
                else:
                    problems = check_gap(cost, usage, capacity, out)
                    verdict = "ok" if not problems else "FAIL: " + "; ".join(problems[:3])
                    failures += bool(problems)
                    bound = out["bound"]
                    gap = (
                        "-"
                        if bound is None
                        else f"{100 * (out['objective'] - bound) / out['objective']:.2f}%"
                    )
                cells = [name, out["objective"], out["bound"], gap, f"{seconds:.1f}", verdict]
                print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
