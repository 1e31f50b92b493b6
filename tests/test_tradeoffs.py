"""Breakdown tables, trade-off curves and the marginal value of capacity."""

from __future__ import annotations

import csv
import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest

import caseload as cl
from caseload import tradeoffs as tr
from caseload.breakdown import breakdown
from caseload.data import TERMS
from caseload.generate import generate_authority


@pytest.fixture(scope="module")
def small() -> tuple[cl.Instance, cl.Result]:
    inst = cl.Instance.from_dict(generate_authority("small", 2))
    return inst, cl.solve(inst, time_limit=4, threads=2)


def test_breakdown_adds_up_to_the_checked_objective(small):
    inst, result = small
    b = breakdown(inst, result)
    report = cl.check(inst, result)
    assert sum(r["weighted"] for r in b.terms) == pytest.approx(report.objective["total"])
    assert {r["term"]: r["value"] for r in b.terms} == pytest.approx(
        {t: report.objective[t] for t in TERMS}
    )
    assert sum(r["cases"] for r in b.localities) == len(inst.cases)
    assert sum(r["unallocated"] for r in b.case_types) == len(result.unallocated)
    assert sum(r["cases"] for r in b.workers) == len(result.assignments)
    for row in b.localities:
        split = sum(row[f"unallocated_{r}"] for r in cl.result.REASONS)
        assert split == row["unallocated"]


def test_breakdown_csv_neutralises_formula_like_ids(tmp_path):
    m = cl.Model("formula")
    loc = m.add_locality("=cmd|'/c calc'!A1")
    t = m.add_case_type("+type", points=5)
    m.add_worker("@worker", base=loc, capacity=4)
    m.add_case("-case", type=t, location=loc)
    inst = m.data()
    result = cl.solve(inst, time_limit=2, threads=1)
    paths = breakdown(inst, result).to_csv(tmp_path)
    cells = [
        cell
        for path in paths.values()
        for row in csv.reader(path.open(encoding="utf-8"))
        for cell in row
    ]
    for raw in ("=cmd|'/c calc'!A1", "+type", "@worker", "-case"):
        assert raw not in cells and "'" + raw in cells
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_frames_match_the_tables(small):
    pd = pytest.importorskip("pandas")
    inst, result = small
    frames = breakdown(inst, result).to_frames()
    assert isinstance(frames["workers"], pd.DataFrame)
    assert len(frames["workers"]) == len(inst.workers)


def test_peak_front_points_are_checked_and_respect_their_caps(small):
    inst, _ = small
    points = tr.peak_front(inst, caps=(80, 90, 100), time_limit=2, threads=2)
    assert points
    for p in points:
        assert p.checked
        assert p.objective["balance"] <= p.limit + 1e-6
    # A looser cap can only help the rest of the objective (warm start from the tighter).
    rests = [p.rest("balance") for p in points]
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(rests))
    front = tr.non_dominated(points, "balance")
    assert front and all(p in points for p in front)


def test_moves_front_is_monotone_and_checked(small):
    from caseload import scenarios as sc

    inst, result = small
    today = sc.with_allocation(inst, result)
    points = tr.moves_front(today, budgets=(0, 3), time_limit=1.5, threads=2)
    assert [p.limit for p in points] == [0, 3]
    assert all(p.checked for p in points)
    assert sum(not m.forced for m in points[0].result.moves) == 0


def test_capacity_values_agree_in_sign_with_re_solves(small):
    inst, result = small
    with ThreadPoolExecutor(max_workers=2) as pool:
        values = tr.capacity_values(inst, result, confirm=2, time_limit=2, executor=pool)
    assert values
    assert all(v.estimate <= 1e-9 for v in values)
    confirmed = [v for v in values if v.confirmed is not None]
    assert len(confirmed) == 2
    for v in confirmed:
        assert v.checked
        # Exact re-solves from the same allocation: more capacity never hurts.
        assert v.confirmed <= 1e-6
