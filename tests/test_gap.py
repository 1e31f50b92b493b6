"""OR-Library GAP: reader edge cases, and gap1-gap12 to their proven optima in both senses."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from caseload import InvalidInstanceError
from caseload.cli import main
from caseload.gap import parse_gap, read_gap, solve_gap
from conftest import GAP_DIR


def known() -> list[tuple[str, int, str, int]]:
    with open(GAP_DIR / "bestknown.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        (r["file"], int(r["problem"]), r["sense"], int(r["best_known"]))
        for r in rows
        if r["file"].removeprefix("gap").removesuffix(".txt").isdigit()
    ]


CASES = known()


def test_all_small_files_listed():
    assert len(CASES) == 12 * 5 * 2


@pytest.mark.parametrize(("file", "problem", "sense", "optimum"), CASES, ids=lambda v: str(v))
def test_gap_optimum(file: str, problem: int, sense: str, optimum: int) -> None:
    inst = read_gap(GAP_DIR / file)[problem - 1]
    out = solve_gap(inst, sense=sense, time_limit=15, threads=2)
    assert out["status"] == "optimal"
    assert out["objective"] == optimum and out["bound"] == optimum
    a = np.array(out["assignment"])
    assert a.shape == (inst.jobs,)
    # Recompute from the file's own matrices: the cost and every capacity.
    assert int(inst.cost[a, np.arange(inst.jobs)].sum()) == optimum
    used = np.zeros(inst.agents)
    np.add.at(used, a, inst.usage[a, np.arange(inst.jobs)])
    assert np.all(used <= inst.capacity)


def test_single_problem_file_without_count():
    text = "2 3\n1 2 3\n4 5 6\n1 1 1\n1 1 1\n2 2\n"
    (p,) = parse_gap(text)
    assert (p.agents, p.jobs) == (2, 3)
    out = solve_gap(p, time_limit=5, threads=1)
    assert out["objective"] == 1 + 2 + 6 and out["status"] == "optimal"


@pytest.mark.parametrize(
    "text", ["", "1 2 3\n1 2 3\n", "1\n2 2\n1 1 1 1\n1 1 1 1\n5 5\n9", "1 x 2", "2\n1 1\n3\n1\n1\n"]
)
def test_reader_rejects_bad_files(text: str) -> None:
    with pytest.raises(InvalidInstanceError):
        parse_gap(text)


def test_infeasible_is_reported():
    (p,) = parse_gap("2 3\n1 1 1\n1 1 1\n3 3 3\n3 3 3\n4 4\n")
    out = solve_gap(p, time_limit=5, threads=1)
    assert out["status"] == "infeasible" and out["objective"] is None


def test_cli_gap(capsys):
    assert main(["gap", str(GAP_DIR / "gap1.txt"), "--problem", "3", "--time-limit", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal" and out["objective"] == 256
    assert main(["gap", str(GAP_DIR / "gap1.txt"), "--problem", "9"]) == 2
    assert "--problem" in capsys.readouterr().err


def test_job_that_fits_nowhere_is_infeasible():
    (p,) = parse_gap("2 2\n1 1\n1 1\n3 1\n3 1\n2 2\n")
    out = solve_gap(p, time_limit=5, threads=1)
    assert out["status"] == "infeasible"
