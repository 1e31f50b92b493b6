"""The command line: exit codes, nothing written on bad input, determinism, time limits."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from caseload.cli import main
from conftest import DATA


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caseload.cli", *args], capture_output=True, text=True, check=False
    )


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_solve_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "result.json"
    assert main(["solve", str(DATA / "tiny.json"), "-o", str(out), "--time-limit", "5"]) == 0
    result = json.loads(out.read_text())
    assert result["format"] == "caseload-result/1" and result["status"] == "optimal"
    assert result["objective"]["total"] == pytest.approx(433.7647058823529)
    assert main(["check", str(DATA / "tiny.json"), str(out)]) == 0
    assert capsys.readouterr().out.startswith("ok")


def test_check_rejects_a_broken_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "result.json"
    assert main(["solve", str(DATA / "tiny.json"), "-o", str(out), "--time-limit", "5"]) == 0
    result = json.loads(out.read_text())
    result["assignments"][0]["worker"] = "ben"  # c1 is a CP case: ben is excluded from it
    write(out, result)
    assert main(["check", str(DATA / "tiny.json"), str(out)]) == 1
    text = capsys.readouterr().out
    assert "c1" in text and "ben" in text
    out.write_text("{not json")
    assert main(["check", str(DATA / "tiny.json"), str(out)]) == 1


def test_solve_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(DATA / "tiny.json"), "-o", "-", "--time-limit", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "optimal"


def test_invalid_instance_exits_2_writes_nothing(tmp_path: Path) -> None:
    data = json.loads((DATA / "tiny.json").read_text())
    data["workers"][0]["capacity"] = -5
    data["cases"][1]["type"] = "ghost"
    bad = write(tmp_path / "bad.json", data)
    out = tmp_path / "result.json"
    proc = run("solve", str(bad), "-o", str(out))
    assert proc.returncode == 2
    assert "workers[ana].capacity" in proc.stderr and "cases[c2].type" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("text", ["", "{", "[]", '{"format": "caseload-instance/1"}', "NaN"])
def test_malformed_files(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    proc = run("solve", str(bad), "-o", str(tmp_path / "r.json"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip()
    assert not (tmp_path / "r.json").exists()


def test_usage_errors(tmp_path: Path) -> None:
    assert run("solve", str(tmp_path / "missing.json"), "-o", "x.json").returncode == 2
    assert run("solve", str(DATA / "tiny.json"), "-o", "-", "--time-limit", "0").returncode == 2
    assert run("frobnicate").returncode == 2
    # NaN passed "> 0" unnoticed and the solve never ended (an independent audit).
    for limit in ("nan", "inf", "-inf"):
        out = tmp_path / f"limit-{limit}.json"
        proc = run("solve", str(DATA / "tiny.json"), "-o", str(out), "--time-limit", limit)
        assert proc.returncode == 2 and "--time-limit" in proc.stderr
        assert not out.exists()


def test_solve_refuses_a_time_limit_that_would_never_end() -> None:
    from caseload import read_instance, solve

    inst = read_instance(DATA / "tiny.json")
    for limit in (math.nan, math.inf, 0.0, -1.0):
        with pytest.raises(ValueError, match="time_limit"):
            solve(inst, time_limit=limit)
    with pytest.raises(ValueError, match="threads"):
        solve(inst, time_limit=1, threads=0)


def test_same_seed_one_thread_same_output(tmp_path: Path) -> None:
    outs = []
    for k in range(2):
        path = tmp_path / f"r{k}.json"
        assert (
            main(["generate", "--size", "small", "--seed", "3", "-o", str(tmp_path / "i.json")])
            == 0
        )
        args = ["solve", str(tmp_path / "i.json"), "-o", str(path), "--threads", "1"]
        assert main([*args, "--seed", "7", "--time-limit", "4"]) == 0
        result = json.loads(path.read_text())
        result.pop("runtime_seconds")
        outs.append(json.dumps(result, sort_keys=True))
    assert outs[0] == outs[1]


def test_time_limit_is_respected(tmp_path: Path) -> None:
    inst = tmp_path / "i.json"
    assert main(["generate", "--size", "medium", "--seed", "1", "-o", str(inst)]) == 0
    out = tmp_path / "r.json"
    started = time.perf_counter()
    proc = run("solve", str(inst), "-o", str(out), "--time-limit", "3")
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    # The limit counts after the input is read; interpreter start-up and reading
    # are outside it, so allow them on top of the spec's 2 seconds.
    assert elapsed < 3 + 2 + 2
    assert run("check", str(inst), str(out)).returncode == 0


@pytest.mark.skipif(
    not __import__("os").environ.get("CASELOAD_LONG"), reason="long profile: CASELOAD_LONG=1"
)
@pytest.mark.parametrize("limit", [5, 10])
def test_same_seed_one_thread_same_output_on_a_city(tmp_path: Path, limit: int) -> None:
    """A city authority (2,600 cases) on one thread: on a slow machine its runs
    were cut by the clock at 5 and even 10 s, and differed. They end by their
    plan now (no ``wall_limited``) and repeat."""
    inst = tmp_path / "i.json"
    assert main(["generate", "--size", "medium", "--seed", "1", "-o", str(inst)]) == 0
    outs = []
    for k in range(2):
        path = tmp_path / f"r{k}.json"
        args = ["solve", str(inst), "-o", str(path), "--threads", "1", "--seed", "3"]
        assert run(*args, "--time-limit", str(limit)).returncode == 0
        result = json.loads(path.read_text())
        assert "wall_limited" not in result["statistics"]
        result.pop("runtime_seconds")
        outs.append(json.dumps(result, sort_keys=True))
    assert outs[0] == outs[1]


@pytest.mark.skipif(
    not __import__("os").environ.get("CASELOAD_LONG"), reason="long profile: CASELOAD_LONG=1"
)
@pytest.mark.parametrize(
    ("size", "seed", "limit"),
    # County-3's greedy leaves statutory cases out: given 2 s and 5 s it ran to
    # 6.5 s and 9.1 s after reading (an independent audit), repairing them.
    [("large", 0, 10), ("county", 0, 30), ("county", 3, 2), ("county", 3, 5)],
)
def test_time_limit_on_every_size(tmp_path: Path, size: str, seed: int, limit: int) -> None:
    inst = tmp_path / "i.json"
    assert main(["generate", "--size", size, "--seed", str(seed), "-o", str(inst)]) == 0
    out = tmp_path / "r.json"
    started = time.perf_counter()
    proc = run("solve", str(inst), "-o", str(out), "--time-limit", str(limit))
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    # Interpreter start-up and reading the file come on top of the limit's 2 seconds.
    assert elapsed < limit + 2 + 3, elapsed
    assert run("check", str(inst), str(out)).returncode == 0


def test_python_dash_m_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "caseload", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: caseload")


def test_search_log_goes_to_stderr_when_the_result_is_stdout() -> None:
    done = run("solve", str(DATA / "tiny.json"), "-o", "-", "--log", "--threads", "1")
    assert done.returncode == 0
    assert json.loads(done.stdout)["format"] == "caseload-result/1"
    assert "CP-SAT" in done.stderr


def test_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    tiny = str(DATA / "tiny.json")
    # CP-SAT's seed is 32-bit; ours is any whole number >= 0.
    assert main(["solve", tiny, "-o", str(out), "--threads", "1", "--seed", str(2**31 + 5)]) == 0
    assert json.loads(out.read_text())["status"] == "optimal"
    out.unlink()
    assert main(["solve", tiny, "-o", str(out), "--seed", "-1"]) == 2
    assert main(["generate", "--size", "small", "--seed", "-1", "-o", str(out)]) == 2
    assert main(["demo", "--instance-seed", "-1"]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "--seed must be >= 0, got -1" in err and "--instance-seed must be >= 0" in err


def test_csv_outputs_checked_before_solving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.json"
    tiny = str(DATA / "tiny.json")
    assert main(["solve", tiny, "-o", str(out), "--allocation-csv", str(tmp_path)]) == 2
    assert main(["solve", tiny, "-o", str(out), "--workers-csv", "-"]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "it is a folder" in err and "--workers-csv needs a file path" in err


def test_explain_and_report_read_results_as_check_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny = str(DATA / "tiny.json")
    out = tmp_path / "r.json"
    assert main(["solve", tiny, "-o", str(out), "--threads", "1"]) == 0
    result = json.loads(out.read_text())
    # Statistics and runtime are the solver's own, not checked: odd ones are left out.
    write(out, {**result, "statistics": "abc", "runtime_seconds": "fast"})
    assert main(["explain", tiny, str(out), "--case", "c1"]) == 0
    html = tmp_path / "r.html"
    assert main(["report", tiny, str(out), "-o", str(html), "--no-tradeoffs"]) == 0
    assert main(["report", tiny, str(out), "-o", str(html), "--tradeoff-seconds", "inf"]) == 2
    # A result that fails the checker: exit 1 everywhere, as `check` does.
    result["objective"]["travel"] += 5
    write(out, result)
    assert main(["check", tiny, str(out)]) == 1
    assert main(["explain", tiny, str(out)]) == 1
    assert main(["report", tiny, str(out), "-o", str(html), "--no-tradeoffs"]) == 1
    assert "objective.travel" in capsys.readouterr().err
