"""CSV import and export: round trips, every malformed-file problem named by
file, row and column, and neutralised formula cells."""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import caseload
from caseload import Instance, InvalidInstanceError
from caseload.csvio import (
    DANGEROUS_FIRST,
    _unquote,
    default_case_types,
    read_csv_folder,
    read_csv_instance,
    safe_cell,
    write_allocation_csv,
    write_csv_instance,
    write_workers_csv,
)
from caseload.generate import generate_authority
from caseload.result import Result, Unallocated, WorkerRow

WORKERS = """\
worker_id,base,capacity,max_cases,max_new_cases,max_travel_minutes,skills,excluded_case_types,role,fte
ana,north,85,18,,,cp;court,,,
ben,south,75,12,3,30,,cp_plan,asye,
"""
CASES = """\
case_id,type,location,points,visits_per_month,skills,priority,group,current_worker,pinned,excluded_workers,must_allocate
c1,cp_plan,north,,,cp,3,,ana,,,
c2,cin_plan,south,,,,,fam7,,,,
c3,cin_plan,south,2,,,,fam7,,,ana,
"""
LOCALITIES = "id,internal_minutes\nnorth,10\nsouth,\n"
TRAVEL = "from,to,minutes\nnorth,south,25\n"
CASE_TYPES = "id,points,visits_per_month,must_allocate\ncp_plan,7,2.2,true\ncin_plan,4,1.1,\n"
FILES = {
    "workers.csv": WORKERS,
    "cases.csv": CASES,
    "localities.csv": LOCALITIES,
    "travel.csv": TRAVEL,
    "case_types.csv": CASE_TYPES,
}


def write_files(folder: Path, **changes: str | bytes | None) -> Path:
    """The tiny example as CSV files in ``folder``, with some files replaced or left out."""
    folder.mkdir(parents=True, exist_ok=True)
    for file, text in FILES.items():
        content = changes.get(file.replace(".csv", ""), text)
        if content is None:
            continue
        if isinstance(content, bytes):
            (folder / file).write_bytes(content)
        else:
            (folder / file).write_text(content, encoding="utf-8", newline="")
    return folder


def problems_of(folder: Path, **kwargs: Any) -> dict[str, str]:
    """``where -> message`` of every problem reading ``folder``."""
    with pytest.raises(InvalidInstanceError) as info:
        read_csv_folder(folder, **kwargs)
    found = {p.where: p.message for p in info.value.problems}
    assert len(found) == len(info.value.problems), "one problem per cell"
    return found


def without_extensions(value: Any) -> Any:
    """An instance dict without its ``x_`` keys, which CSV does not carry."""
    if isinstance(value, dict):
        return {k: without_extensions(v) for k, v in value.items() if not k.startswith("x_")}
    if isinstance(value, list):
        return [without_extensions(v) for v in value]
    return value


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# -- reading valid files --------------------------------------------------------
def test_tiny_reads_as_its_json(tmp_path: Path, tiny: dict[str, Any]) -> None:
    inst = read_csv_folder(write_files(tmp_path), name="tiny")
    assert inst == Instance.from_dict(tiny)
    assert inst.to_dict() == Instance.from_dict(tiny).to_dict()


@pytest.mark.parametrize("size", ["small", "medium"])
def test_generated_authority_round_trips(tmp_path: Path, size: str) -> None:
    inst = Instance.from_dict(generate_authority(size, 3))
    written = write_csv_instance(inst, tmp_path / "out")
    assert sorted(p.name for p in written.values()) == sorted(FILES)
    again = read_csv_instance(
        written["workers"],
        written["cases"],
        localities=written["localities"],
        travel_csv=written["travel"],
        case_types_csv=written["case_types"],
        weights=inst.weights,
        name=inst.name,
    )
    assert again == inst
    assert again.to_dict() == without_extensions(inst.to_dict())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(FILES)


def test_defaults_derived_localities_and_standard_case_types(tmp_path: Path) -> None:
    workers = "worker_id,base,capacity\nw1,north,85\n"
    cases = "case_id,type,location\nc1,cp_plan,north\nc2,cla,south\n"
    folder = write_files(
        tmp_path, workers=workers, cases=cases, localities=None, travel=None, case_types=None
    )
    inst = read_csv_folder(folder)
    assert [(x.id, x.internal_minutes) for x in inst.localities] == [("north", 0), ("south", 0)]
    assert inst.case_types == default_case_types()
    generated = Instance.from_dict(generate_authority("small")).case_types
    assert inst.case_types == generated
    assert inst.statutory(inst.cases[0]) and inst.points(inst.cases[1]) == 6


def test_no_locality_anywhere_names_the_files_they_come_from(tmp_path: Path) -> None:
    folder = write_files(
        tmp_path,
        workers="worker_id,base,capacity\n",
        cases="case_id,type,location\n",
        localities=None,
        travel=None,
    )
    assert problems_of(folder) == {
        "localities named in workers.csv and cases.csv": "must have at least one record"
    }


def test_labels_are_mapped_to_ids(tmp_path: Path) -> None:
    workers = (
        "Worker_ID , Base,Capacity,Skills,Excluded_Case_Types,x_team\n"
        "w1,north,85,Child Protection; Court ;,Child Protection Plan,north-1\n"
    )
    cases = "case_id,type,location,skills\nc1,Child In Need,north,Court\n"
    folder = write_files(tmp_path, workers=workers, cases=cases)
    inst = read_csv_folder(
        folder,
        case_type_map={"Child Protection Plan": "cp_plan", "Child In Need": "cin_plan"},
        skill_map={"Child Protection": "cp", "Court": "court"},
    )
    w = inst.workers[0]
    assert w.skills == ("cp", "court") and w.excluded_case_types == ("cp_plan",)
    assert inst.cases[0].type == "cin_plan" and inst.cases[0].skills == ("court",)
    assert dict(w.extras) == {}  # x_ columns are ignored


def test_cell_conventions(tmp_path: Path) -> None:
    cases = (
        "case_id,current_worker,type,location,priority,pinned,must_allocate,points\n"
        "c1,ana,cin_plan,north,3.0,Y,yes,1e1\n"
        "c2,,cin_plan,south, 2 ,no,FALSE,\n"
        ",,,,,,,\n"
        "\n"
        'c3,,cin_plan,south,,0,1,"2.5"\n'
    )
    inst = read_csv_folder(write_files(tmp_path, cases=cases))
    c1, c2, c3 = inst.cases
    assert (c1.priority, c1.pinned, c1.must_allocate, c1.points) == (3, True, True, 10)
    assert (c2.priority, c2.pinned, c2.must_allocate, c2.points) == (2, False, False, None)
    assert (c3.pinned, c3.must_allocate, c3.points) == (False, True, 2.5)


def test_bom_is_accepted(tmp_path: Path) -> None:
    folder = write_files(tmp_path, workers=b"\xef\xbb\xbf" + WORKERS.encode())
    assert [w.id for w in read_csv_folder(folder).workers] == ["ana", "ben"]


def test_non_ascii_ids_and_crlf_line_ends(tmp_path: Path) -> None:
    workers = WORKERS.replace("ana", "anaïs").replace("\n", "\r\n")
    cases = CASES.replace("ana", "anaïs").replace("\n", "\r\n")
    inst = read_csv_folder(write_files(tmp_path, workers=workers, cases=cases))
    assert inst.cases[0].current_worker == "anaïs"


# -- malformed files: every problem named by file, row and column --------------------
def test_missing_required_column(tmp_path: Path) -> None:
    workers = "worker_id,base,max_cases\nana,north,18\nben,south,12\n"
    found = problems_of(write_files(tmp_path, workers=workers))
    assert found == {"workers.csv row 1, column capacity": "required column is missing"}


def test_bad_number_and_bad_integer(tmp_path: Path) -> None:
    workers = WORKERS.replace("ana,north,85,18", "ana,north,8five,18.5")
    cases = CASES.replace("c2,cin_plan,south,,", "c2,cin_plan,south,nan,")
    found = problems_of(write_files(tmp_path, workers=workers, cases=cases))
    assert found == {
        "workers.csv row 2, column capacity": "must be a number, got '8five'",
        "workers.csv row 2, column max_cases": "must be a whole number, got '18.5'",
        "cases.csv row 3, column points": "must be a number, got 'nan'",
    }


def test_numbers_past_a_float(tmp_path: Path) -> None:
    for digits in (401, 5001):  # Python parses no int over 4,300 digits
        workers = WORKERS.replace("ana,north,85,18", "ana,north,85," + "9" * digits)
        found = problems_of(write_files(tmp_path / str(digits), workers=workers))
        assert found == {
            "workers.csv row 2, column max_cases": (
                f"must be a finite number, got {digits} characters of digits"
            )
        }


def test_bad_boolean(tmp_path: Path) -> None:
    cases = CASES.replace("c1,cp_plan,north,,,cp,3,,ana,,", "c1,cp_plan,north,,,cp,3,,ana,maybe,")
    found = problems_of(write_files(tmp_path, cases=cases))
    assert list(found) == ["cases.csv row 2, column pinned"]
    assert found["cases.csv row 2, column pinned"].startswith("must be true or false")


def test_unknown_references(tmp_path: Path) -> None:
    workers = WORKERS.replace("ben,south", "ben,east").replace(",cp_plan,asye", ",cp_plann,asye")
    cases = (
        CASES.replace("c1,cp_plan,north", "c1,cp_plan,west")
        .replace("c2,cin_plan", "c2,cin")
        .replace(",ana,\n", ",ana;zed,\n")
    )
    travel = TRAVEL + "north,east,10\n"
    found = problems_of(write_files(tmp_path, workers=workers, cases=cases, travel=travel))
    assert found == {
        "travel.csv row 3, column to": "unknown locality 'east'",
        "workers.csv row 3, column base": "unknown locality 'east'",
        "workers.csv row 3, column excluded_case_types": "unknown case type 'cp_plann'",
        "cases.csv row 2, column location": "unknown locality 'west'",
        "cases.csv row 3, column type": "unknown case type 'cin'",
        "cases.csv row 4, column excluded_workers": "unknown worker 'zed'",
    }


def test_current_worker_who_left_is_allowed_unless_pinned(tmp_path: Path) -> None:
    cases = CASES.replace(",ana,,,\n", ",gone,,,\n", 1)
    assert read_csv_folder(write_files(tmp_path / "a", cases=cases)).cases[0].current_worker
    pinned = CASES.replace(",ana,,,\n", ",gone,true,,\n", 1)
    found = problems_of(write_files(tmp_path / "b", cases=pinned))
    assert list(found) == ["cases.csv row 2, column current_worker"]
    assert "'gone'" in found["cases.csv row 2, column current_worker"]


def test_duplicate_ids(tmp_path: Path) -> None:
    cases = CASES + "c2,cin_plan,north,,,,,,,,,\n"
    localities = LOCALITIES + "north,3\n"
    found = problems_of(write_files(tmp_path, cases=cases, localities=localities))
    assert found == {
        "localities.csv row 4, column id": "duplicate id 'north' (first on row 2)",
        "cases.csv row 5, column case_id": "duplicate id 'c2' (first on row 3)",
    }


def test_unknown_and_repeated_columns(tmp_path: Path) -> None:
    workers = WORKERS.replace(",fte\n", ",fte,capcity\n").replace(",,\n", ",,,\n")
    found = problems_of(write_files(tmp_path, workers=workers))
    assert list(found) == ["workers.csv row 1, column capcity"]
    assert found["workers.csv row 1, column capcity"].startswith("unknown column (allowed: ")
    repeated = "id,internal_minutes,ID\nnorth,10,\nsouth,,\n"
    found = problems_of(write_files(tmp_path / "b", localities=repeated))
    assert found == {"localities.csv row 1, column id": "column appears more than once"}


def test_missing_values_and_extra_cells(tmp_path: Path) -> None:
    cases = CASES.replace("c2,cin_plan,south,", ",cin_plan,,") + "c4,cin_plan,south" + "," * 13
    found = problems_of(write_files(tmp_path, cases=cases + "x\n"))
    assert found == {
        "cases.csv row 3, column case_id": "required value is missing",
        "cases.csv row 3, column location": "required value is missing",
        "cases.csv row 5": "has 16 cells but the header has 12 columns",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"worker_id,base,capacity\nana,north,85\nb\xe9n,south,75\n", "not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("worker_id,base,capacity\nana,north,85\n".encode("utf-16"), "UTF-16 text"),
        (b"", "no header row"),
        (b"worker_id;base;capacity\nana;north;85\n", "another separator"),
        (b'worker_id,base,capacity\n"ana"x,north,85\n', "not valid CSV"),
    ],
    ids=["latin-1", "binary", "utf-16", "empty", "semicolons", "bad-quoting"],
)
def test_files_that_are_not_utf8_csv_are_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    found = problems_of(write_files(tmp_path, workers=content))
    assert list(found) == ["workers.csv"]
    assert message in found["workers.csv"]
    if message == "not UTF-8 text":
        assert "line 3" in found["workers.csv"]


def test_every_problem_in_every_file_at_once(tmp_path: Path) -> None:
    workers = WORKERS.replace("ana,north,85", "ana,north,-5").replace(",30,", ",thirty,")
    cases = (
        CASES.replace("cp,3,", "cp,7,")
        .replace("c2,cin_plan,south,,,,,fam7,,,,", "c2,cin_plan,south,,,,,fam7,,n0,,")
        .replace("c3,cin_plan,south", "c3,cin_plan,mars")
    )
    travel = "from,to,minutes\nnorth,south,0\nnorth,north,5\n"
    case_types = CASE_TYPES + "cla,six,,\n"
    found = problems_of(
        write_files(tmp_path, workers=workers, cases=cases, travel=travel, case_types=case_types)
    )
    assert list(found) == [
        "travel.csv row 2, column minutes",
        "travel.csv row 3, column to",
        "case_types.csv row 4, column points",
        "workers.csv row 2, column capacity",
        "workers.csv row 3, column max_travel_minutes",
        "cases.csv row 2, column priority",
        "cases.csv row 3, column pinned",
        "cases.csv row 4, column location",
    ]
    # The format's own rules, traced back to the cell.
    assert found["cases.csv row 2, column priority"] == "must be <= 5, got 7"
    assert found["workers.csv row 2, column capacity"] == "must be >= 0, got -5"
    assert found["travel.csv row 2, column minutes"] == "must be > 0, got 0"


def test_pinned_closure_problems_are_traced_to_rows(tmp_path: Path) -> None:
    workers = WORKERS.replace("ana,north,85,18", "ana,north,5,18")
    cases = CASES.replace(",ana,,,\n", ",ana,yes,,\n", 1)
    found = problems_of(write_files(tmp_path, workers=workers, cases=cases))
    assert found == {
        "workers.csv row 2, column capacity": "pinned cases and their siblings need 7 points, "
        "capacity is 5",
        "cases.csv row 2, column current_worker": "pinned to worker 'ana', who is not eligible "
        "for it",
    }


def test_messages_do_not_echo_free_text(tmp_path: Path) -> None:
    note = "Jane Smith, see referral"
    workers = WORKERS.replace("ana,north,85,18", f'ana,north,"{note}",18')
    cases = CASES.replace("cp,3,", "cp,x" + "9" * 60 + ",")
    with pytest.raises(InvalidInstanceError) as info:
        read_csv_folder(write_files(tmp_path, workers=workers, cases=cases))
    assert "Smith" not in str(info.value) and "999" not in str(info.value)
    assert [p.message for p in info.value.problems] == [
        "must be a number, got a text of 24 characters (not shown)",
        "must be a whole number, got a text of 61 characters (not shown)",
    ]


def test_missing_main_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_csv_folder(write_files(tmp_path, cases=None))


# -- formula injection ---------------------------------------------------------------
HYPERLINK = '=HYPERLINK("http://x.example","x")'
INJECTION_IDS = {
    "ana": HYPERLINK,
    "ben": "+1",
    "c1": "-2",
    "c2": "@SUM(A1)",
    "c3": "\tTAB",
    "fam7": "'=q",
}


def injection_instance(tiny: dict[str, Any]) -> Instance:
    """The tiny example with every worker, case and group id a formula."""
    names = INJECTION_IDS
    data = copy.deepcopy(tiny)
    for w in data["workers"]:
        w["id"] = names[w["id"]]
    for c in data["cases"]:
        c["id"] = names[c["id"]]
        if "current_worker" in c:
            c["current_worker"] = names[c["current_worker"]]
        c["excluded_workers"] = [names[w] for w in c.get("excluded_workers", [])]
        if "group" in c:
            c["group"] = names[c["group"]]
    data["workers"][1]["role"] = "=1+1"
    return Instance.from_dict(data)


def test_formula_like_ids_round_trip(tmp_path: Path, tiny: dict[str, Any]) -> None:
    inst = injection_instance(tiny)
    write_csv_instance(inst, tmp_path)
    raw = (tmp_path / "workers.csv").read_text(encoding="utf-8-sig")
    for row in csv.reader(io.StringIO(raw)):
        assert all(cell[:1] not in DANGEROUS_FIRST for cell in row)
    assert read_csv_folder(tmp_path, weights=inst.weights, name=inst.name) == inst


def test_exports_neutralise_formula_cells(tmp_path: Path, tiny: dict[str, Any]) -> None:
    inst = injection_instance(tiny)
    result = caseload.solve(inst, time_limit=2, threads=1)
    write_allocation_csv(result, tmp_path / "allocation.csv", instance=inst)
    write_workers_csv(result, tmp_path / "workers.csv")
    allocation = rows_of(tmp_path / "allocation.csv")
    assert [r["case_id"] for r in allocation] == ["'-2", "'@SUM(A1)", "'\tTAB"]
    workers = rows_of(tmp_path / "workers.csv")
    assert [r["worker_id"] for r in workers] == ["'" + HYPERLINK, "'+1"]
    for path in (tmp_path / "allocation.csv", tmp_path / "workers.csv"):
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            assert all(cell[:1] not in DANGEROUS_FIRST for cell in row)
    for r in allocation:
        if r["worker_id"]:
            assert r["worker_id"].startswith("'")


@given(st.text())
def test_safe_cell_only_adds_a_prefix(text: str) -> None:
    cell = safe_cell(text)
    assert cell[:1] not in DANGEROUS_FIRST
    assert cell in (text, "'" + text)
    assert cell == text or text.lstrip("'")[:1] in DANGEROUS_FIRST
    assert _unquote(cell) == text  # what the reader does is the exact inverse


def test_safe_cell_values() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("\r=x") == "'\r=x"
    assert safe_cell("ok") == "ok" and safe_cell("'quoted") == "'quoted"
    assert safe_cell(None) == "" and safe_cell(True) == "true"
    assert safe_cell(85.0) == "85" and safe_cell(2.2) == "2.2" and safe_cell(3) == "3"
    with pytest.raises(ValueError):
        safe_cell(float("nan"))


# -- exports -------------------------------------------------------------------------
def test_solving_a_csv_instance_exports_one_row_per_case(tmp_path: Path) -> None:
    inst = Instance.from_dict(generate_authority("small", 1))
    write_csv_instance(inst, tmp_path / "in")
    again = read_csv_folder(tmp_path / "in", weights=inst.weights)
    result = caseload.solve(again, time_limit=2, threads=1)
    write_allocation_csv(result, tmp_path / "allocation.csv", instance=again)
    write_workers_csv(result, tmp_path / "workers.csv")
    rows = rows_of(tmp_path / "allocation.csv")
    assert [r["case_id"] for r in rows] == [c.id for c in again.cases]
    assert list(rows[0]) == ["case_id", "worker_id", "status", "reason", "detail"]
    for r in rows:
        if r["status"] == "allocated":
            assert result.assignments[r["case_id"]] == r["worker_id"] and not r["reason"]
        else:
            assert r["status"] == "unallocated" and not r["worker_id"]
            assert r["reason"] == result.unallocated[r["case_id"]].reason
    workers = rows_of(tmp_path / "workers.csv")
    assert [w["worker_id"] for w in workers] == [w.id for w in again.workers]
    for row, w in zip(workers, result.workers, strict=True):
        assert int(row["cases"]) == w.cases and int(row["new_cases"]) == w.new_cases
        assert float(row["points"]) == pytest.approx(w.points)
        if w.utilisation is not None:
            assert float(row["utilisation"]) == pytest.approx(w.utilisation, abs=1e-6)
    # Without the instance: the same rows, allocated first.
    write_allocation_csv(result, tmp_path / "plain.csv")
    assert sorted(map(str, rows_of(tmp_path / "plain.csv"))) == sorted(map(str, rows))


def fake_result(points: float = 4.0) -> Result:
    return Result(
        instance_name="t",
        status="optimal",
        objective={"total": 0.0},
        weights={},
        bound=None,
        bound_source=None,
        assignments={"c1": "w1"},
        unallocated={"c2": Unallocated("c2", "capacity", "the one eligible worker is full")},
        workers=[WorkerRow("w1", 1, points, 0.0, 1)],
        runtime_seconds=0.0,
    )


def test_export_to_an_open_file_and_empty_utilisation() -> None:
    out = io.StringIO(newline="")
    write_workers_csv(fake_result(), out)
    assert out.getvalue() == (
        "worker_id,cases,points,capacity,utilisation,new_cases\r\nw1,1,4,0,,1\r\n"
    )
    out = io.StringIO(newline="")
    write_allocation_csv(fake_result(), out)
    assert out.getvalue().splitlines()[1:] == [
        "c1,w1,allocated,,",
        "c2,,unallocated,capacity,the one eligible worker is full",
    ]


def test_writes_are_atomic(tmp_path: Path, tiny: dict[str, Any]) -> None:
    target = tmp_path / "workers.csv"
    target.write_text("old\n")
    with pytest.raises(ValueError):
        write_workers_csv(fake_result(points=float("inf")), target)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["workers.csv"]
    with pytest.raises(ValueError, match="does not match the instance"):
        write_allocation_csv(fake_result(), target, instance=Instance.from_dict(tiny))
    assert target.read_text() == "old\n"
    write_workers_csv(fake_result(), target)
    assert target.read_bytes().startswith(b"\xef\xbb\xbfworker_id,")


@pytest.mark.parametrize(
    ("field", "value"),
    [("skills", ["a;b"]), ("role", " padded "), ("role", "")],
)
def test_instances_that_cannot_round_trip_are_refused(
    tmp_path: Path, tiny: dict[str, Any], field: str, value: Any
) -> None:
    tiny["workers"][0][field] = value
    with pytest.raises(ValueError, match=r"workers\[ana\]"):
        write_csv_instance(Instance.from_dict(tiny), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_unwritable_target_is_named(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "allocation.csv"
    with pytest.raises(OSError) as info:
        write_allocation_csv(fake_result(), target)
    assert info.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
