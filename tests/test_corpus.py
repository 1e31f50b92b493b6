"""The malformed-input corpus: every invalid file is refused with every problem named;
every odd but valid file is solved and checked. Nothing is written on refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from caseload.cli import main

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, list[str]] = json.loads((CORPUS / "invalid" / "expected.json").read_text())


def test_corpus_is_large_enough():
    assert len(EXPECTED) >= 40
    assert sorted(EXPECTED) == sorted(
        p.name for p in (CORPUS / "invalid").glob("*.json") if p.name != "expected.json"
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_file_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.json"
    code = main(["solve", str(CORPUS / "invalid" / name), "-o", str(out), "--time-limit", "2"])
    err = capsys.readouterr().err
    assert code == 2
    for text in EXPECTED[name]:
        assert text in err, (text, err)
    assert "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("path", sorted((CORPUS / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_odd_valid_file_is_solved_and_checked(path: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    assert main(["solve", str(path), "-o", str(out), "--time-limit", "3", "--threads", "1"]) == 0
    assert main(["check", str(path), str(out)]) == 0


def test_twenty_thousand_cases(tmp_path: Path) -> None:
    from caseload.generate import generate_authority

    data = generate_authority("county", 0)
    extra = []
    for k in range(20_000 - len(data["cases"])):
        case = dict(data["cases"][k])
        for key in ("group", "pinned", "current_worker", "excluded_workers"):
            case.pop(key, None)
        case["id"] = f"extra{k:05d}"
        extra.append(case)
    data["cases"] += extra
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "result.json"
    assert main(["solve", str(path), "-o", str(out), "--time-limit", "20"]) == 0
    assert main(["check", str(path), str(out)]) == 0
    result = json.loads(out.read_text())
    assert len(result["assignments"]) + len(result["unallocated"]) == 20_000
