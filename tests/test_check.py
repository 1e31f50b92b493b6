"""The independent checker: each hard constraint satisfied and violated, each term by hand."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from caseload.check import check_result, recompute_objective


def result_for(inst: dict[str, Any], allocation: dict[str, str | None], **extra: Any) -> dict:
    """A result dict whose figures are recomputed by the checker itself, so only the
    allocation (and whatever ``extra`` overrides) can be wrong."""
    from caseload.check import _reasons, _World

    world = _World(inst)
    objective = recompute_objective(inst, allocation)
    reasons = _reasons(world, allocation)
    rows = []
    for w in inst["workers"]:
        mine = [c for c in inst["cases"] if allocation.get(c["id"]) == w["id"]]
        pts = sum(world.points(c) for c in mine)
        rows.append(
            {
                "worker": w["id"],
                "cases": len(mine),
                "points": pts,
                "capacity": w["capacity"],
                "utilisation": pts / w["capacity"] if w["capacity"] else None,
            }
        )
    out = {
        "format": "caseload-result/1",
        "instance": inst.get("name"),
        "status": "feasible",
        "objective": objective,
        "bound": None,
        "gap": None,
        "assignments": [{"case": c, "worker": w} for c, w in allocation.items() if w],
        "unallocated": [
            {"case": c, "reason": reasons[c]} for c, w in allocation.items() if w is None
        ],
        "workers": rows,
        "runtime_seconds": 0.0,
    }
    out.update(extra)
    return out


OPTIMUM = {"c1": "ana", "c2": "ben", "c3": "ben"}


def test_optimum_of_the_spec_example_passes(tiny):
    report = check_result(tiny, result_for(tiny, OPTIMUM))
    assert report.ok, report.violations
    # result.md: travel = 2.2 x 10 (c1 inside north) + 0 + 0 = 22;
    # balance = 100 x 7 / 85 = 8.235...; total = 22 + 50 x 8.235... = 433.76...
    assert report.objective["travel"] == pytest.approx(22.0)
    assert report.objective["balance"] == pytest.approx(8.235294117647058)
    assert report.objective["total"] == pytest.approx(433.7647058823529)


def violations(inst: dict, allocation: dict, **extra: Any) -> list[str]:
    return list(check_result(inst, result_for(inst, allocation, **extra)).violations)


def test_constraint_1_eligibility(tiny):
    # ben is excluded from cp_plan and lacks the cp skill.
    found = violations(tiny, {"c1": "ben", "c2": "ben", "c3": "ben"})
    assert any("case c1: worker ben is not eligible" in v for v in found)
    # c3 excludes ana (a conflict of interest).
    found = violations(tiny, {"c1": "ana", "c2": "ana", "c3": "ana"})
    assert any("case c3: worker ana is not eligible" in v for v in found)


def test_constraint_1_travel_limit(tiny):
    tiny["workers"][1]["max_travel_minutes"] = 5  # ben is based in south: 0 min, still fine
    assert violations(tiny, OPTIMUM) == []
    tiny["cases"][1]["location"] = tiny["cases"][2]["location"] = "north"  # 25 min away
    found = violations(tiny, OPTIMUM)
    assert any("case c2: worker ben is not eligible" in v for v in found)


def test_constraint_2_capacity(tiny):
    tiny["workers"][1]["capacity"] = 6  # c2 (4) + c3 (2) = 6: an exact fit is allowed
    assert violations(tiny, OPTIMUM) == []
    tiny["workers"][1]["capacity"] = 5.5
    found = violations(tiny, OPTIMUM)
    assert any("worker ben: 6 points over capacity 5.5" in v for v in found)


def test_constraint_3_max_cases(tiny):
    tiny["workers"][1]["max_cases"] = 2
    assert violations(tiny, OPTIMUM) == []
    tiny["workers"][1]["max_cases"] = 1
    assert any("worker ben: 2 cases over max_cases 1" in v for v in violations(tiny, OPTIMUM))


def test_constraint_4_max_new_cases(tiny):
    tiny["workers"][1]["max_new_cases"] = 2  # c2, c3 have no current worker: both new
    assert violations(tiny, OPTIMUM) == []
    tiny["workers"][1]["max_new_cases"] = 1
    found = violations(tiny, OPTIMUM)
    assert any("worker ben: 2 new cases over max_new_cases 1" in v for v in found)
    tiny["cases"][1]["current_worker"] = "ben"  # now only c3 is new
    assert violations(tiny, OPTIMUM) == []


def test_constraint_5_siblings(tiny):
    del tiny["cases"][2]["excluded_workers"]
    found = violations(tiny, {"c1": "ana", "c2": "ana", "c3": "ben"})
    assert any("group fam7: siblings split" in v for v in found)
    found = violations(tiny, {"c1": "ana", "c2": None, "c3": "ben"})
    assert any("group fam7: siblings split" in v for v in found)
    assert violations(tiny, {"c1": "ana", "c2": None, "c3": None}) == []


def test_constraint_6_pinned(tiny):
    tiny["cases"][0]["pinned"] = True
    assert violations(tiny, OPTIMUM) == []
    found = violations(tiny, {"c1": None, "c2": "ben", "c3": "ben"})
    assert any("case c1: pinned to 'ana'" in v for v in found)


def test_each_term_by_hand(tiny):
    allocation = {"c1": None, "c2": "ben", "c3": "ben"}
    terms = recompute_objective(tiny, allocation)
    # c1 unallocated: statutory (cp_plan) = 1, unallocated = priority 3,
    # continuity = 1 (its current worker ana is in the instance);
    # travel = 0 (c2, c3 in south, ben based there, internal 0 minutes);
    # balance = max(ana 0/85, ben 6/75) = 8%.
    assert terms["statutory"] == 1
    assert terms["unallocated"] == 3
    assert terms["continuity"] == 1
    assert terms["travel"] == 0
    assert terms["balance"] == pytest.approx(8.0)
    assert terms["total"] == pytest.approx(1_000_000 + 3000 + 200 + 0 + 50 * 8.0)


def test_departed_current_worker_costs_no_continuity(tiny):
    tiny["cases"][1]["current_worker"] = "left-in-june"
    assert recompute_objective(tiny, OPTIMUM)["continuity"] == 0


def test_reasons(tiny):
    # c1 alone: only ana is eligible. Unallocated while ana has room: trade_off.
    allocation = {"c1": None, "c2": "ben", "c3": "ben"}
    assert check_result(tiny, result_for(tiny, allocation)).reasons["c1"] == "trade_off"
    # With ana full, it is capacity.
    tiny["workers"][0]["capacity"] = 7
    tiny["cases"].append({"id": "c4", "type": "cin_plan", "location": "north"})
    allocation = {"c1": None, "c2": "ben", "c3": "ben", "c4": "ana"}
    assert check_result(tiny, result_for(tiny, allocation)).reasons["c1"] == "capacity"
    # Nobody has the court skill for c5: no_eligible_worker.
    tiny["cases"].append({"id": "c5", "type": "cin_plan", "location": "north", "skills": ["x"]})
    allocation["c5"] = None
    report = check_result(tiny, result_for(tiny, allocation))
    assert report.reasons["c5"] == "no_eligible_worker"
    # A wrong stated reason is caught.
    bad = result_for(tiny, allocation)
    bad["unallocated"] = [
        {"case": u["case"], "reason": "trade_off" if u["case"] == "c5" else u["reason"]}
        for u in bad["unallocated"]
    ]
    found = list(check_result(tiny, bad).violations)
    assert any("case c5: reason 'trade_off' is wrong" in v for v in found)


def test_group_reason_is_for_the_whole_group(tiny):
    # ben can take c2 and c3 together (6 <= 75) but not when nearly full.
    tiny["workers"][1]["capacity"] = 5
    allocation = {"c1": "ana", "c2": None, "c3": None}
    report = check_result(tiny, result_for(tiny, allocation))
    # ana is excluded by c3, so ben is the only worker eligible for the whole group,
    # and 6 points exceed his capacity 5.
    assert report.reasons == {"c2": "capacity", "c3": "capacity"}


def test_missing_duplicate_and_unknown_cases(tiny):
    res = result_for(tiny, OPTIMUM)
    res["assignments"] = [
        *res["assignments"][:2],
        {"case": "c1", "worker": "ana"},
        {"case": "ghost", "worker": "ana"},
        {"case": "c3", "worker": "nobody"},
    ]
    found = list(check_result(tiny, res).violations)
    assert "case c1: listed 2 times" in found
    assert any("unknown case 'ghost'" in v for v in found)
    assert any("case c3: assigned to unknown worker 'nobody'" in v for v in found)


def test_wrong_figures_are_caught(tiny):
    res = result_for(tiny, OPTIMUM)
    res["objective"] = dict(res["objective"], total=433.0, travel=23.0)
    res["bound"], res["gap"] = 500.0, 0.0
    res["workers"][0]["cases"] = 5
    found = list(check_result(tiny, res).violations)
    assert any(v.startswith("objective.total: reported 433.0") for v in found)
    assert any(v.startswith("objective.travel: reported 23.0") for v in found)
    assert any(v.startswith("bound: 500.0 is above the objective") for v in found)
    assert any(v.startswith("gap: reported 0.0") for v in found)
    assert any(v.startswith("workers[ana].cases: reported 5") for v in found)


def test_optimal_needs_a_bound_that_shows_it(tiny):
    res = result_for(tiny, OPTIMUM, status="optimal")
    assert "status: 'optimal' needs a proven bound" in check_result(tiny, res).violations
    total = res["objective"]["total"]
    res.update(bound=total - 10, gap=10 / total)
    assert any("'optimal' but the gap" in v for v in check_result(tiny, res).violations)
    res.update(bound=total, gap=0.0)
    assert check_result(tiny, res).ok


@pytest.mark.parametrize(
    "broken",
    [None, [], "text", {}, {"format": "caseload-result/1", "assignments": "x"}],
)
def test_malformed_results_are_reported_not_raised(tiny, broken):
    report = check_result(tiny, copy.deepcopy(broken))
    assert not report.ok


def test_capacity_tolerance_is_relative_only(tiny):
    tiny["workers"][1]["capacity"] = 6 / (1 + 5e-9)  # 6 points: over by 5e-9 of it
    found = violations(tiny, OPTIMUM)
    assert any("worker ben: 6 points over capacity 5.99999997" in v for v in found), found
    tiny["workers"][1]["capacity"] = 6 / (1 + 5e-10)  # within 1e-9 of it
    assert violations(tiny, OPTIMUM) == []


def test_integers_past_a_float_are_reported_not_raised(tiny):
    result = result_for(tiny, OPTIMUM, bound=10**400, gap=0.0)
    found = list(check_result(tiny, result).violations)
    assert found == ["bound: must be a number or null, got an integer too large for a float"]


def test_row_types_are_checked(tiny):
    result = result_for(tiny, {"c1": "ana", "c2": None, "c3": "ben"})
    result["unallocated"][0]["detail"] = 3
    ana = next(r for r in result["workers"] if r["worker"] == "ana")
    ana["cases"] = True  # equal to 1 in Python, but not a count
    found = list(check_result(tiny, result).violations)
    assert "unallocated[0].detail: must be a string" in found
    assert any(v.startswith("workers[ana].cases: reported True") for v in found), found
