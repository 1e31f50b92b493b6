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
    # Found by an independent audit: sums overflowed to infinity (a traceback,
    # or "Infinity" in the result), and 10**20 fits no 64-bit integer.
    "points near the largest float": lambda d: (
        d["cases"][0].update(points=1e308),
        d["workers"][0].update(capacity=1e308),
    ),
    "a limit of 10**20 cases": lambda d: d["workers"][0].update(
        max_cases=10**20, max_new_cases=10**20
    ),
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


def test_points_in_other_units_do_not_change_the_memory_needed(tmp_path) -> None:
    """Points and capacities ten thousand times larger (minutes, say, rather
    than points) are the same problem. The whole-items bound's tables were
    sized in points: a small authority took 2.7 GiB and 15 s of a 3 s limit."""
    import subprocess
    import sys

    from caseload.generate import generate_authority

    data = generate_authority("small", 1)
    for record in (*data["case_types"], *data["cases"]):
        if "points" in record:
            record["points"] *= 10_000
    for worker in data["workers"]:
        worker["capacity"] *= 10_000
    path = tmp_path / "minutes.json"
    path.write_text(json.dumps(data))
    script = (
        "import resource, sys, caseload\n"
        "inst = caseload.read_instance(sys.argv[1])\n"
        "res = caseload.solve(inst, time_limit=3, threads=2)\n"
        "assert caseload.check(inst, res).ok\n"
        "assert res.bound is not None and res.bound <= res.objective['total']\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True
    )
    peak_mib = int(proc.stdout.split()[-1]) / 1024
    assert peak_mib < 1024, f"peak {peak_mib:.0f} MiB"
