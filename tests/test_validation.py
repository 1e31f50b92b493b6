from __future__ import annotations

import json
from typing import Any

import pytest

from caseload import Instance, InvalidInstanceError
from caseload.data import loads


def problems_of(data: Any) -> list[str]:
    with pytest.raises(InvalidInstanceError) as info:
        Instance.from_dict(data)
    assert isinstance(info.value, ValueError)
    return [str(p) for p in info.value.problems]


def test_tiny_is_valid_and_round_trips(tiny):
    inst = Instance.from_dict(tiny)
    assert [w.id for w in inst.workers] == ["ana", "ben"]
    assert inst.points(inst.cases[2]) == 2 and inst.points(inst.cases[1]) == 4
    assert inst.visits(inst.cases[0]) == 2.2
    assert inst.statutory(inst.cases[0]) and not inst.statutory(inst.cases[1])
    again = Instance.from_dict(json.loads(json.dumps(inst.to_dict())))
    assert again == inst
    assert again.to_dict() == inst.to_dict()


def test_extension_keys_are_kept_and_ignored(tiny):
    tiny["x_source"] = {"anything": [1, 2]}
    tiny["workers"][0]["x_team"] = "north-1"
    inst = Instance.from_dict(tiny)
    assert inst.to_dict()["x_source"] == {"anything": [1, 2]}
    assert inst.to_dict()["workers"][0]["x_team"] == "north-1"


def test_not_an_object():
    assert problems_of([1, 2]) == ["instance: must be a JSON object, got a list"]


def test_every_problem_listed_at_once(tiny):
    tiny["format"] = "caseload-instance/2"
    tiny["workers"][0]["capcity"] = 85  # typo
    tiny["workers"][1]["capacity"] = -1
    tiny["cases"][0]["priority"] = 6
    tiny["cases"][1]["type"] = "nope"
    tiny["cases"][2]["location"] = "east"
    tiny["case_types"][1]["points"] = float("nan")
    found = problems_of(tiny)
    expected = [
        "instance.format",
        "workers[ana].capcity: unknown key",
        "workers[ben].capacity: must be >= 0",
        "cases[c1].priority: must be <= 5",
        "cases[c2].type: unknown case type 'nope'",
        "cases[c3].location: unknown locality 'east'",
        "case_types[cin_plan].points: must be a finite number",
    ]
    for text in expected:
        assert any(text in p for p in found), (text, found)
    assert len(found) == len(expected)


def test_missing_required_fields(tiny):
    del tiny["workers"]
    del tiny["cases"][0]["type"]
    del tiny["localities"][1]["id"]
    found = problems_of(tiny)
    assert "instance.workers: required field is missing" in found
    assert "cases[c1].type: required field is missing" in found
    assert "localities[#1].id: required field is missing" in found


def test_wrong_types(tiny):
    tiny["workers"][0]["capacity"] = "85"
    tiny["workers"][0]["max_cases"] = 2.5
    tiny["cases"][0]["pinned"] = 1
    tiny["cases"][0]["skills"] = "cp"
    tiny["workers"][1]["max_new_cases"] = True
    found = problems_of(tiny)
    assert any(p.startswith("workers[ana].capacity: must be a number") for p in found)
    assert any(p.startswith("workers[ana].max_cases: must be a whole number") for p in found)
    assert any(p.startswith("cases[c1].pinned: must be true or false") for p in found)
    assert any(p.startswith("cases[c1].skills: must be a list") for p in found)
    assert any(p.startswith("workers[ben].max_new_cases: must be a number") for p in found)


def test_integer_field_accepts_whole_float(tiny):
    tiny["workers"][0]["max_cases"] = 18.0
    tiny["cases"][0]["priority"] = 3.0
    inst = Instance.from_dict(tiny)
    assert inst.workers[0].max_cases == 18 and isinstance(inst.workers[0].max_cases, int)


def test_duplicate_ids_and_keys():
    text = (
        '{"format": "caseload-instance/1", "localities": [{"id": "a"}, {"id": "a"}],'
        ' "case_types": [{"id": "t", "points": 1, "points": 2}], "workers": [], "cases": []}'
    )
    found = problems_of(loads(text))
    assert any("localities[a].id: duplicate id" in p for p in found)
    assert any("case_types[t].points: key appears more than once" in p for p in found)


def test_travel_edges(tiny):
    tiny["travel"] += [
        {"from": "south", "to": "north", "minutes": 5},
        {"from": "north", "to": "north", "minutes": 5},
        {"from": "north", "to": "east", "minutes": 0},
    ]
    found = problems_of(tiny)
    assert any(p.startswith("travel[1] (south-north).from: the pair") for p in found)
    assert any(p.startswith("travel[2] (north-north).to: self-loop") for p in found)
    assert any(p.startswith("travel[3] (north-east).minutes: must be > 0") for p in found)
    assert any(p.startswith("travel[3] (north-east).to: unknown locality") for p in found)


def test_unknown_references(tiny):
    tiny["workers"][0]["base"] = "mars"
    tiny["workers"][0]["excluded_case_types"] = ["ghost"]
    tiny["cases"][0]["excluded_workers"] = ["zed"]
    found = problems_of(tiny)
    assert "workers[ana].base: unknown locality 'mars'" in found
    assert "workers[ana].excluded_case_types: unknown case type 'ghost'" in found
    assert "cases[c1].excluded_workers: unknown worker 'zed'" in found


def test_departed_current_worker_is_allowed_unless_pinned(tiny):
    tiny["cases"][1]["current_worker"] = "left-in-june"
    Instance.from_dict(tiny)
    tiny["cases"][1]["pinned"] = True
    found = problems_of(tiny)
    assert any(p.startswith("cases[c2].current_worker: pinned to 'left-in-june'") for p in found)


def test_pinned_needs_current_worker(tiny):
    tiny["cases"][1]["pinned"] = True
    assert problems_of(tiny) == ["cases[c2].pinned: a pinned case needs a current_worker"]


def test_pinned_worker_must_be_eligible(tiny):
    # ben is excluded from cp_plan and lacks the cp skill.
    tiny["cases"][0].update(current_worker="ben", pinned=True)
    found = problems_of(tiny)
    assert any(p.startswith("cases[c1].current_worker: pinned to worker 'ben'") for p in found)


def test_pinned_closure_includes_siblings(tiny):
    # c2 pinned to ana pulls its sibling c3 along, but c3 excludes ana.
    tiny["cases"][1].update(current_worker="ana", pinned=True)
    found = problems_of(tiny)
    assert found == [
        "cases[c3].group: in pinned sibling group 'fam7' with worker 'ana', "
        "who is not eligible for it"
    ]


def test_pinned_siblings_disagree(tiny):
    del tiny["cases"][2]["excluded_workers"]
    tiny["cases"][1].update(current_worker="ana", pinned=True)
    tiny["cases"][2].update(current_worker="ben", pinned=True)
    found = problems_of(tiny)
    assert any("its sibling 'c2' (group 'fam7') is pinned to 'ana'" in p for p in found)


def test_pinned_closure_capacity_and_limits(tiny):
    tiny["workers"][0].update(capacity=6, max_cases=0)
    tiny["cases"][0]["pinned"] = True
    found = problems_of(tiny)
    # c1 (7 points) no longer fits ana: ineligible, over capacity and over max_cases.
    assert any(p.startswith("cases[c1].current_worker: pinned to worker 'ana'") for p in found)
    assert any(p.startswith("workers[ana].capacity: pinned cases") for p in found)
    assert any(p.startswith("workers[ana].max_cases: pinned cases") for p in found)


def test_pinned_closure_new_cases(tiny):
    # c2 pinned to ben brings sibling c3 (current worker ana) as a new case.
    tiny["cases"][1].update(current_worker="ben", pinned=True)
    tiny["cases"][2]["current_worker"] = "ana"
    tiny["workers"][1]["max_new_cases"] = 0
    found = problems_of(tiny)
    assert found == [
        "workers[ben].max_new_cases: pinned sibling groups bring 1 new cases, max_new_cases is 0"
    ]


def test_weights(tiny):
    tiny["weights"] = {"travel": 2}
    inst = Instance.from_dict(tiny)
    assert inst.weights.travel == 2 and inst.weights.statutory == 1_000_000
    tiny["weights"] = {"travle": 2, "balance": -1}
    found = problems_of(tiny)
    assert any(p.startswith("weights.travle: unknown key") for p in found)
    assert any(p.startswith("weights.balance: must be >= 0") for p in found)


def test_empty_lists_rules(tiny):
    tiny["workers"] = []
    tiny["cases"] = []
    Instance.from_dict(tiny)
    tiny["localities"] = []
    found = problems_of(tiny)
    assert "localities: must have at least one record" in found


def test_instances_beyond_the_limits_are_refused(tiny):
    from caseload.validation import MAX_CASE_WORKER_CELLS

    n_workers = 1000
    tiny["workers"] = [{"id": f"w{k}", "base": "north", "capacity": 85} for k in range(n_workers)]
    n_cases = MAX_CASE_WORKER_CELLS // n_workers + 1
    tiny["cases"] = [{"id": "c", "type": "cin_plan", "location": "north"}] * n_cases
    found = problems_of(tiny)
    assert len(found) == 1 and found[0].startswith("instance: too large")


def test_integers_past_a_float_name_their_field(tiny):
    tiny["workers"][0]["capacity"] = 10**400
    tiny["cases"][0]["priority"] = -(10**5000)  # Python parses no int over 4,300 digits
    assert problems_of(tiny) == [
        "workers[ana].capacity: must be a finite number, got an integer of about 401 digits",
        "cases[c1].priority: must be a finite number, got an integer of about 5001 digits",
    ]
    # The same from a file: parsed as an infinity, so no traceback.
    tiny["cases"][0]["priority"] = 1
    text = json.dumps(tiny)
    with pytest.raises(InvalidInstanceError) as info:
        Instance.from_dict(loads(text))
    assert "workers[ana].capacity: must be a finite number, got inf" in str(info.value)


def test_pinned_problems_listed_with_the_others(tiny):
    tiny["workers"][0]["capacity"] = -1
    tiny["cases"][1]["pinned"] = True
    tiny["cases"][2].update(pinned=True, current_worker="zoe")
    assert problems_of(tiny) == [
        "workers[ana].capacity: must be >= 0, got -1",
        "cases[c2].pinned: a pinned case needs a current_worker",
        "cases[c3].current_worker: pinned to 'zoe', who is not a worker of the instance",
    ]


def test_capacity_tolerance_is_relative_only(tiny):
    # Pinned cases on a worker whose capacity they exceed by 5e-9 of it.
    tiny["workers"][0]["capacity"] = 1e-4
    tiny["cases"][0].update(points=1e-4 * (1 + 5e-9), current_worker="ana", pinned=True)
    found = problems_of(tiny)
    assert any(p.startswith("workers[ana].capacity: pinned cases") for p in found), found
