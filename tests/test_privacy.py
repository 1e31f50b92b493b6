"""No personal data in logs, no temporary files left behind."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from caseload import Instance, solve
from caseload.cli import main
from conftest import DATA


def test_logs_carry_counts_not_case_details(tiny, caplog: pytest.LogCaptureFixture) -> None:
    tiny["cases"][0]["x_note"] = "SENSITIVE-DETAIL"
    with caplog.at_level(logging.DEBUG, logger="caseload"):
        solve(Instance.from_dict(tiny), time_limit=2, threads=1)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for detail in ("SENSITIVE-DETAIL", "north", "south", "cp_plan", "fam7", "court"):
        assert detail not in text


def test_incremental_logs_name_cases_by_id_only(tiny, caplog: pytest.LogCaptureFixture) -> None:
    tiny["cases"][1]["current_worker"] = "ana"
    tiny["cases"][2]["current_worker"] = "ana"
    tiny["cases"][1]["x_note"] = "SENSITIVE-DETAIL"
    with caplog.at_level(logging.DEBUG, logger="caseload"):
        result = solve(Instance.from_dict(tiny), time_limit=2, threads=1, max_moves=2)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "moved c2: ana -> ben" in text and result.moves
    for detail in ("SENSITIVE-DETAIL", "north", "south", "cp_plan", "fam7", "court"):
        assert detail not in text


def test_no_temporary_files_left(tmp_path: Path) -> None:
    before = set(Path(tempfile.gettempdir()).iterdir())
    out = tmp_path / "r.json"
    assert main(["solve", str(DATA / "tiny.json"), "-o", str(out), "--time-limit", "2"]) == 0
    assert main(["check", str(DATA / "tiny.json"), str(out)]) == 0
    after = set(Path(tempfile.gettempdir()).iterdir())
    assert after - before <= {tmp_path.parent, tmp_path}
