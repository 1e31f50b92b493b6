"""The benchmark quality gate (``benchmarks/gate.py``): what fails the build and what does not.

The comparison is tested on synthetic rows; one test swaps the solver for the
manager-style greedy on one small committed instance and shows the gate fails,
naming the instance and the figure. The profile itself runs in CI
(``.ci/run``), not here: it takes minutes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import gate  # noqa: E402  (benchmarks/ is not a package)


def _row(total: float, statutory: int = 0, check: str = "ok", **extra: Any) -> dict[str, Any]:
    return {
        "statutory": statutory,
        "unallocated": statutory,
        "total": total,
        "terms": {},
        "bound": None,
        "gap": None,
        "status": "feasible",
        "check": check,
        "allocation_sha256": "a",
        **extra,
    }


def test_equal_results_pass_silently() -> None:
    failures, notes = gate.compare({"m": _row(100.0)}, {"m": _row(100.0)})
    assert failures == [] and notes == []


def test_total_worse_beyond_tolerance_fails_naming_instance_and_figure() -> None:
    failures, _ = gate.compare({"medium-0": _row(700_000.0)}, {"medium-0": _row(712_345.0)})
    assert failures == ["medium-0: total 712,345 > baseline 700,000 (+1.76%, tolerance 0.5%)"]


def test_total_worse_within_tolerance_is_a_note() -> None:
    failures, notes = gate.compare({"m": _row(1000.0)}, {"m": _row(1004.0)})
    assert failures == []
    assert notes == ["m: total 1,004 > baseline 1,000 (+0.40%), within the 0.5% tolerance"]


def test_better_total_is_a_note_suggesting_an_update() -> None:
    failures, notes = gate.compare({"m": _row(1000.0)}, {"m": _row(900.0)})
    assert failures == [] and "better; update the baseline" in notes[0]


def test_newly_unallocated_statutory_case_fails_even_at_a_lower_total() -> None:
    failures, _ = gate.compare({"s": _row(1000.0, statutory=0)}, {"s": _row(900.0, statutory=2)})
    assert failures == ["s: statutory unallocated 2 > baseline 0"]


def test_checker_failure_and_missing_result_fail() -> None:
    bad = _row(100.0, check="1 violations", violations=["worker w1: over capacity"])
    failures, _ = gate.compare(
        {"a": _row(100.0), "b": _row(5.0)}, {"a": bad, "b": {"error": "exit 1: boom"}}
    )
    assert failures == [
        "a: independent check failed, 1 violations: worker w1: over capacity",
        "b: no result (exit 1: boom)",
    ]


def test_wall_time_and_memory_never_fail() -> None:
    # Timings are not part of a quality row at all: ten times slower, same verdict.
    slow = {"wall_seconds": 100.0, "build_seconds": 9.0, "solve_seconds": 90.0, "peak_mib": 9e3}
    quality, timings = gate.split_row({**_row(100.0), **slow})
    assert set(quality) == set(gate.QUALITY_KEYS)
    assert timings == slow
    assert gate.compare({"m": _row(100.0)}, {"m": quality}) == ([], [])


def test_new_and_dropped_instances_are_notes() -> None:
    failures, notes = gate.compare({"old": _row(1.0)}, {"new": _row(1.0)})
    assert failures == []
    assert notes == ["new: no baseline to compare with", "old: in the baseline, not run"]


def test_table_ends_with_ratios_to_baseline() -> None:
    baseline = {
        "quality": {"m": _row(100.0)},
        "timings": {"m": {"wall_seconds": 10.0, "peak_mib": 200.0}},
    }
    text = gate.table(
        {"m": _row(100.0)}, {"m": {"wall_seconds": 12.0, "peak_mib": 100.0}}, baseline, []
    )
    assert text.splitlines()[-1] == (
        "| m | 0 | 100.0 | - | - | 12.0 | 100 | total +0.00%, time ×1.20, peak ×0.50 |"
    )


def test_a_ci_case_repeats_exactly() -> None:
    """One thread, a fixed seed and a work budget: the same allocation twice."""
    case = next(c for c in gate.PROFILES["ci"] if c.name == "small-1")
    first, _ = gate.split_row(gate.run_case(case))
    second, _ = gate.split_row(gate.run_case(case))
    assert first["check"] == "ok"
    assert first == second


def test_a_weakened_solver_fails_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The greedy in place of the solver, on small-1: the gate names the instance and total."""
    real = gate.solve_problem

    def greedy_only(problem: Any, **kwargs: Any) -> Any:
        return real(problem, **{**kwargs, "strategy": "greedy"})

    monkeypatch.setattr(gate, "solve_problem", greedy_only)
    case = next(c for c in gate.PROFILES["ci"] if c.name == "small-1")
    quality, _ = gate.split_row(gate.run_case(case))
    assert quality["check"] == "ok"  # a valid allocation, just a worse one
    baseline = json.loads(gate.BASELINES["ci"].read_text())["quality"]
    failures, _ = gate.compare(baseline, {"small-1": quality})
    assert failures and failures[0].startswith(f"small-1: total {quality['total']:,.6g} > baseline")
    assert "tolerance 0.5%" in failures[0]


@pytest.mark.parametrize("seed", range(4))
def test_the_generic_mip_baseline_solves_tiny_instances_exactly(seed: int) -> None:
    # The SCIP column of the quality table is only a fair baseline if its model
    # is the same problem: on tiny instances it must reach the brute-force optimum.
    from mip import solve_scip

    from caseload.compile import compile_instance
    from test_solve import brute_force, random_tiny

    inst = random_tiny(seed)
    p = compile_instance(inst).problem
    best = brute_force(inst)
    out = solve_scip(p, time_limit=10.0)
    assert out["assignment"] is not None and not p.violations(out["assignment"])
    assert out["objective"] == pytest.approx(best, rel=1e-6)
    assert out["bound"] is not None and out["bound"] <= best + 1e-6 * max(1.0, abs(best))
