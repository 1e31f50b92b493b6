from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
GAP_DIR = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "gap"


@pytest.fixture
def tiny() -> dict[str, Any]:
    """The example of instance.md, whose optimum result.md gives (433.7647...)."""
    return copy.deepcopy(json.loads((DATA / "tiny.json").read_text()))
