"""Valid but odd instances are solved and pass the independent checker."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from caseload import Instance, check, solve

Edit = Callable[[dict[str, Any]], Any]

ODD: dict[str, Edit] = {
    "huge capacity": lambda d: d["workers"][0].update(capacity=1e300),
    "huge points and capacity": lambda d: (
        d["cases"][0].update(points=1e200),
        d["workers"][0].update(capacity=1e300),
    ),
    "tiny points": lambda d: d["cases"][0].update(points=1e-7),
    "all weights zero": lambda d: d.update(
        weights=dict.fromkeys(("statutory", "unallocated", "continuity", "travel", "balance"), 0)
    ),
    "huge weights": lambda d: d.update(weights={"statutory": 1e300, "balance": 1e8}),
    "fractional weights": lambda d: d.update(
        weights={"statutory": 1000.5, "unallocated": 0.001, "travel": 0.07, "balance": 0.123}
    ),
    "odd minutes": lambda d: d["travel"][0].update(minutes=0.333333333),
    "huge minutes": lambda d: d["travel"][0].update(minutes=1e200),
    "unicode and formula-like ids": lambda d: d["cases"][1].update(id="=cmd|' /C calc'!A0 ü"),
    "capacity-zero workers only": lambda d: [w.update(capacity=0) for w in d["workers"]],
}


@pytest.mark.parametrize("edit", ODD.values(), ids=list(ODD))
def test_odd_but_valid(tiny: dict[str, Any], edit: Edit) -> None:
    data = copy.deepcopy(tiny)
    edit(data)
    inst = Instance.from_dict(json.loads(json.dumps(data)))
    result = solve(inst, time_limit=3, threads=1)
    report = check(inst, json.loads(json.dumps(result.to_dict())))
    assert report.ok, report.violations
    assert len(result.assignments) + len(result.unallocated) == len(inst.cases)
