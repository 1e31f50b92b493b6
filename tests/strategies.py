"""Hypothesis strategies for small, valid instances (as JSON dicts)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from caseload import Instance, InvalidInstanceError

SKILLS = ["cp", "court", "cwd"]


@st.composite
def instance_dicts(draw: st.DrawFn, max_workers: int = 4, max_cases: int = 7) -> dict[str, Any]:
    """A small instance dict; invalid draws (e.g. an unfit pinned case) are rejected."""
    n_loc = draw(st.integers(1, 3))
    locs = [f"l{i}" for i in range(n_loc)]
    localities = [{"id": loc, "internal_minutes": draw(st.integers(0, 15))} for loc in locs]
    travel = []
    for i in range(1, n_loc):
        if draw(st.booleans()) or i == 1:
            j = draw(st.integers(0, i - 1))
            travel.append({"from": locs[i], "to": locs[j], "minutes": draw(st.integers(1, 40))})
    n_types = draw(st.integers(1, 3))
    case_types = [
        {
            "id": f"t{k}",
            "points": draw(st.sampled_from([1, 2, 3, 4.5, 6, 7])),
            "visits_per_month": draw(st.sampled_from([0, 0.5, 1, 2.2])),
            "must_allocate": draw(st.booleans()),
        }
        for k in range(n_types)
    ]
    n_workers = draw(st.integers(0, max_workers))
    workers = []
    for w in range(n_workers):
        rec: dict[str, Any] = {
            "id": f"w{w}",
            "base": draw(st.sampled_from(locs)),
            "capacity": draw(st.sampled_from([0, 5, 8, 12, 20, 85])),
            "skills": draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=3)),
        }
        if draw(st.booleans()):
            rec["max_cases"] = draw(st.integers(0, 4))
        if draw(st.booleans()):
            rec["max_new_cases"] = draw(st.integers(0, 3))
        if draw(st.integers(0, 3)) == 0:
            rec["max_travel_minutes"] = draw(st.sampled_from([5, 20, 60]))
        if draw(st.integers(0, 4)) == 0:
            rec["excluded_case_types"] = [draw(st.sampled_from([t["id"] for t in case_types]))]
        workers.append(rec)
    worker_ids = [w["id"] for w in workers]
    n_cases = draw(st.integers(0, max_cases))
    cases = []
    for c in range(n_cases):
        rec = {
            "id": f"c{c}",
            "type": draw(st.sampled_from([t["id"] for t in case_types])),
            "location": draw(st.sampled_from(locs)),
            "priority": draw(st.integers(1, 5)),
        }
        if draw(st.integers(0, 2)) == 0:
            rec["skills"] = draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=2))
        if draw(st.integers(0, 2)) == 0:
            rec["group"] = f"g{draw(st.integers(0, 2))}"
        if draw(st.integers(0, 3)) == 0:
            rec["points"] = draw(st.sampled_from([0, 1.5, 3, 10]))
        current = draw(st.sampled_from([None, "gone", *worker_ids]))
        if current is not None:
            rec["current_worker"] = current
            if current != "gone" and draw(st.integers(0, 5)) == 0:
                rec["pinned"] = True
        if worker_ids and draw(st.integers(0, 5)) == 0:
            rec["excluded_workers"] = [draw(st.sampled_from(worker_ids))]
        if draw(st.integers(0, 5)) == 0:
            rec["must_allocate"] = draw(st.booleans())
        cases.append(rec)
    weights = {
        "statutory": draw(st.sampled_from([1000, 1_000_000])),
        "unallocated": draw(st.sampled_from([0, 10, 1000])),
        "continuity": draw(st.sampled_from([0, 50, 200])),
        "travel": draw(st.sampled_from([0, 1, 2.5])),
        "balance": draw(st.sampled_from([0, 1, 50])),
    }
    return {
        "format": "caseload-instance/1",
        "name": "hypothesis",
        "localities": localities,
        "travel": travel,
        "case_types": case_types,
        "workers": workers,
        "cases": cases,
        "weights": weights,
    }


def valid(data: dict[str, Any]) -> bool:
    """Whether ``data`` passes validation (pinned draws may not)."""
    try:
        Instance.from_dict(data)
    except InvalidInstanceError:
        return False
    return True


def instances(**kwargs: Any) -> st.SearchStrategy[Instance]:
    """Valid instances."""
    return instance_dicts(**kwargs).filter(valid).map(Instance.from_dict)
