"""The synthetic authorities: deterministic, valid, realistic in size and load."""

from __future__ import annotations

import json

import pytest

from caseload import Instance
from caseload.compile import compile_instance
from caseload.generate import SIZES, generate_authority


def test_same_seed_same_authority():
    assert generate_authority("small", 4) == generate_authority("small", 4)
    assert generate_authority("small", 4) != generate_authority("small", 5)


@pytest.mark.parametrize(
    ("size", "workers", "cases", "pairs"),
    [("small", 40, 650, (5_000, 25_000)), ("medium", 150, 2600, (60_000, 130_000))],
)
def test_sizes_and_eligible_pairs(size: str, workers: int, cases: int, pairs: tuple) -> None:
    inst = Instance.from_dict(json.loads(json.dumps(generate_authority(size, 0))))
    assert len(inst.workers) == workers and len(inst.cases) == cases
    compiled = compile_instance(inst)
    lo, hi = pairs
    assert lo <= int(compiled.eligible.sum()) <= hi
    # Realistic load: statutory work fits comfortably, all work a little more or less.
    capacity = sum(w.capacity for w in inst.workers)
    demand = sum(inst.points(c) for c in inst.cases)
    statutory = sum(inst.points(c) for c in inst.cases if inst.statutory(c))
    assert 0.4 < statutory / capacity < 0.7
    assert 0.85 < demand / capacity < 1.25
    # Pre-allocated, pinned, leavers, new referrals and sibling groups all occur.
    ids = {w.id for w in inst.workers}
    assert sum(c.current_worker in ids for c in inst.cases) > 0.7 * cases
    assert any(c.pinned for c in inst.cases)
    assert any(c.current_worker and c.current_worker not in ids for c in inst.cases)
    assert sum(c.current_worker is None for c in inst.cases) > 0.05 * cases
    assert sum(c.group is not None for c in inst.cases) > 0.3 * cases
    assert any(w.role == "asye" for w in inst.workers)


@pytest.mark.parametrize("size", SIZES)
def test_every_size_is_valid(size: str) -> None:
    data = generate_authority(size, 1)
    inst = Instance.from_dict(data)  # raises if any record or pinned closure is invalid
    assert inst.name == f"{size}-1"


def test_unknown_size():
    with pytest.raises(ValueError, match="size must be one of"):
        generate_authority("megacity")
