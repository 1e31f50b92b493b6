"""CSV import and export, as a case-management system or a spreadsheet sees them.

Import: :func:`read_csv_instance` reads a ``workers.csv`` and a ``cases.csv``
(with optional ``localities.csv``, ``travel.csv`` and ``case_types.csv``) into a
validated :class:`~caseload.data.Instance`; :func:`read_csv_folder` does the same
for a folder holding files of those names. Every problem in every file is
reported at once, each named by file, row (as a spreadsheet numbers it: the
header is row 1) and column, e.g. ``cases.csv row 14, column priority``.

Export: :func:`write_allocation_csv` (one row per case) and
:func:`write_workers_csv` (one row per worker) write a :class:`~caseload.result.Result`;
:func:`write_csv_instance` writes an instance as the five files the reader reads.
Every text cell goes through :func:`safe_cell`, so no cell can start a
spreadsheet formula, and every file is replaced atomically.

The columns, mapping options and rules are documented in ``docs/csv.md``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from caseload.data import FORMAT, MAX_FILE_BYTES, CaseType, Instance, Weights
from caseload.errors import InvalidInstanceError, Problem
from caseload.validation import parse_instance

if TYPE_CHECKING:
    from caseload.result import Result

__all__ = [
    "default_case_types",
    "read_csv_folder",
    "read_csv_instance",
    "safe_cell",
    "write_allocation_csv",
    "write_csv_instance",
    "write_workers_csv",
]

PathLike = str | os.PathLike[str]
CellValue = str | int | float | bool | None

#: Characters that make a spreadsheet read a cell as a formula when they come
#: first (OWASP "CSV Injection"; NUL as in OWASP ASVS 1.2.10).
DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r", "\0")

#: Separator of list cells (skills, excluded_case_types, excluded_workers).
LIST_SEPARATOR = ";"

_TRUE = frozenset({"true", "yes", "1", "y"})
_FALSE = frozenset({"false", "no", "0", "n"})
# What a spreadsheet or case-management export writes as a number; Python's
# float() also takes "nan", "1_000" and " inf", which no such system means.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_SHOWN = 40


# -- formula-injection neutraliser ---------------------------------------------
def _needs_quote(text: str) -> bool:
    # Text that already starts with quotes followed by a dangerous character is
    # quoted once more, so that the reader's removal of exactly one quote is the
    # exact inverse of safe_cell (see _unquote).
    return text.lstrip("'")[:1] in DANGEROUS_FIRST


def safe_cell(value: CellValue) -> str:
    """A cell's text, neutralised against spreadsheet formula injection.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab, carriage return or NUL
    is prefixed with a single quote ``'``, which spreadsheets show as text and
    do not evaluate (OWASP guidance). Text that starts with one or more quotes
    followed by one of those characters is prefixed too, so that
    :func:`read_csv_instance` can remove exactly the quote added here. Nothing
    else is changed: the result is ``value`` or ``"'" + value``.

    Parameters
    ----------
    value
        Text; or a number, written as a number (``85``, ``2.2``), which a
        spreadsheet reads as a number, not a formula; or a boolean (``true`` /
        ``false``); or ``None`` (an empty cell).

    Returns
    -------
    str
        The cell's text.

    Raises
    ------
    ValueError
        For a number that is not finite.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number_text(value)
    text = str(value)
    return "'" + text if _needs_quote(text) else text


def _number_text(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot write a non-finite number ({value}) to CSV")
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)  # shortest text that reads back as the same float


def _unquote(text: str) -> str:
    """Undo :func:`safe_cell` on a cell read back (the inverse, exactly)."""
    if text.startswith("'") and _needs_quote(text[1:]):
        return text[1:]
    return text


# -- reading ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Column:
    name: str  # the CSV column
    key: str  # the caseload-instance/1 field
    kind: str  # text, number, integer, boolean, list
    required: bool = False


def _columns(*specs: tuple[str, str, str, bool]) -> dict[str, _Column]:
    return {name: _Column(name, key, kind, req) for name, key, kind, req in specs}


_WORKERS = _columns(
    ("worker_id", "id", "text", True),
    ("base", "base", "text", True),
    ("capacity", "capacity", "number", True),
    ("max_cases", "max_cases", "integer", False),
    ("max_new_cases", "max_new_cases", "integer", False),
    ("max_travel_minutes", "max_travel_minutes", "number", False),
    ("skills", "skills", "list", False),
    ("excluded_case_types", "excluded_case_types", "list", False),
    ("role", "role", "text", False),
    ("fte", "fte", "number", False),
)
_CASES = _columns(
    ("case_id", "id", "text", True),
    ("type", "type", "text", True),
    ("location", "location", "text", True),
    ("points", "points", "number", False),
    ("visits_per_month", "visits_per_month", "number", False),
    ("skills", "skills", "list", False),
    ("priority", "priority", "integer", False),
    ("group", "group", "text", False),
    ("current_worker", "current_worker", "text", False),
    ("pinned", "pinned", "boolean", False),
    ("excluded_workers", "excluded_workers", "list", False),
    ("must_allocate", "must_allocate", "boolean", False),
)
_LOCALITIES = _columns(
    ("id", "id", "text", True),
    ("internal_minutes", "internal_minutes", "number", False),
)
_TRAVEL = _columns(
    ("from", "from", "text", True),
    ("to", "to", "text", True),
    ("minutes", "minutes", "number", True),
)
_CASE_TYPES = _columns(
    ("id", "id", "text", True),
    ("points", "points", "number", True),
    ("visits_per_month", "visits_per_month", "number", False),
    ("must_allocate", "must_allocate", "boolean", False),
)

#: The file each kind of record is read from, in the order files are reported.
_FILE_OF = {
    "localities": "localities.csv",
    "travel": "travel.csv",
    "case_types": "case_types.csv",
    "workers": "workers.csv",
    "cases": "cases.csv",
}
_SCHEMA = {
    "localities": _LOCALITIES,
    "travel": _TRAVEL,
    "case_types": _CASE_TYPES,
    "workers": _WORKERS,
    "cases": _CASES,
}


def _show(text: str) -> str:
    """A bad value (in a number or yes/no column) as a message may show it.

    A short single word (``'8five'``, ``'N/A'``) helps find the mistake; longer
    text, or text with spaces, may be a note about a child typed into the
    wrong column, so only its length is given.
    """
    if len(text) <= _SHOWN and text.isprintable() and not any(c.isspace() for c in text):
        return repr(text)
    return f"a text of {len(text)} characters (not shown)"


def _shorten(text: str) -> str:
    """A column name for a ``where``, at most 40 characters."""
    if len(text) <= _SHOWN and text.isprintable():
        return text
    return repr(text[: _SHOWN - 1] + "…" if len(text) > _SHOWN else text)


@dataclass
class _Problems:
    """Problems with a sort key (file rank, row, column position)."""

    items: list[tuple[tuple[int, int, int], Problem]] = field(default_factory=list)
    wheres: set[str] = field(default_factory=set)

    def add(self, key: tuple[int, int, int], where: str, message: str) -> None:
        self.items.append((key, Problem(where, message)))
        self.wheres.add(where)

    def sorted(self) -> list[Problem]:
        return [p for _, p in sorted(self.items, key=lambda item: item[0])]


@dataclass
class _Table:
    """One CSV file's header and data rows, as a spreadsheet numbers them."""

    kind: str
    file: str
    rank: int
    columns: dict[str, int]  # lower-case column name -> cell position
    rows: list[tuple[int, list[str]]]  # (row number, cells)
    problems: _Problems
    broken: bool = False  # a file-level problem: rows are not to be trusted

    def where(self, row: int, column: str | None = None) -> str:
        if column is None:
            return f"{self.file} row {row}"
        return f"{self.file} row {row}, column {column}"

    def fail(self, row: int, column: str | None, message: str) -> None:
        order = list(_SCHEMA[self.kind]).index(column) if column in _SCHEMA[self.kind] else 99
        self.problems.add((self.rank, row, order), self.where(row, column), message)

    def fail_file(self, message: str) -> None:
        self.broken = True
        self.problems.add((self.rank, 0, 0), self.file, message)

    def cell(self, cells: list[str], column: str) -> str | None:
        """The stripped, unquoted text of a cell, or ``None`` when empty or absent."""
        pos = self.columns.get(column)
        if pos is None or pos >= len(cells):
            return None
        text = _unquote(cells[pos].strip())
        return text or None


def _read_table(kind: str, path: PathLike, rank: int, problems: _Problems) -> _Table:
    """Read one CSV file, reporting file-level and header problems."""
    file = Path(path).name
    table = _Table(kind, file, rank, {}, [], problems)
    size = Path(path).stat().st_size
    if size > MAX_FILE_BYTES:
        table.fail_file(f"file too large: {size:,} bytes, limit {MAX_FILE_BYTES:,}")
        return table
    raw = Path(path).read_bytes()
    text = _decode(raw, table)
    if text is None:
        return table
    # strict: a stray quote is refused rather than guessed at.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        records.extend(reader)
    except csv.Error as exc:
        # The reader counts physical lines, not rows: a quoted cell may span lines.
        table.fail_file(f"not valid CSV near line {reader.line_num} ({exc})")
        return table
    if not records or not any(cell.strip() for cell in records[0]):
        table.fail_file("no header row: the first row must name the columns")
        return table
    header = [cell.strip().lower() for cell in records[0]]
    schema = _SCHEMA[kind]
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        table.fail_file(
            "the header is a single column: the file seems to use another separator "
            "than the comma (save it as 'CSV UTF-8 (Comma delimited)')"
        )
        return table
    for pos, name in enumerate(header):
        shown = _shorten(name)
        if not name:
            if any(pos < len(cells) and cells[pos].strip() for cells in records[1:]):
                table.fail(1, f"{pos + 1} (no name)", "column has no header but holds values")
            continue
        if name in table.columns:
            table.fail(1, shown, "column appears more than once")
            table.broken = True
        elif name in schema:
            table.columns[name] = pos
        elif not name.startswith("x_"):
            # Reported, but the rows are still read: a stray column does not make
            # the others untrustworthy.
            table.fail(
                1, shown, f"unknown column (allowed: {', '.join(schema)}, or x_... to ignore)"
            )
    for column in schema.values():
        if column.required and column.name not in table.columns:
            table.fail(1, column.name, "required column is missing")
            table.broken = True
    width = len(header)
    for index, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank rows, as spreadsheets leave them at the end
        if len(cells) > width and any(cell.strip() for cell in cells[width:]):
            table.fail(index, None, f"has {len(cells)} cells but the header has {width} columns")
        table.rows.append((index, cells))
    return table


def _decode(raw: bytes, table: _Table) -> str | None:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        table.fail_file("UTF-16 text, not UTF-8: save it as 'CSV UTF-8'")
        return None
    if b"\0" in raw:
        table.fail_file("binary file (it contains NUL bytes), not CSV text")
        return None
    try:
        return raw.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        table.fail_file(f"not UTF-8 text (first bad byte on line {line}): save it as 'CSV UTF-8'")
        return None


def _convert(table: _Table, row: int, column: _Column, text: str) -> Any:
    """A cell's value as its field's type, or ``None`` after reporting why not."""
    if column.kind == "text":
        return text
    if column.kind == "list":
        return [item.strip() for item in text.split(LIST_SEPARATOR) if item.strip()]
    if column.kind == "boolean":
        word = text.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        table.fail(row, column.name, f"must be true or false (or yes/no, 1/0), got {_show(text)}")
        return None
    if len(text) > 300 and _NUMBER.fullmatch(text):
        # Past what a float holds (and Python parses no int over 4,300 digits).
        table.fail(
            row, column.name, f"must be a finite number, got {len(text)} characters of digits"
        )
        return None
    if column.kind == "integer":
        if _INTEGER.fullmatch(text):
            return int(text)
        if _NUMBER.fullmatch(text) and float(text).is_integer() and math.isfinite(float(text)):
            return int(float(text))
        table.fail(row, column.name, f"must be a whole number, got {_show(text)}")
        return None
    if not _NUMBER.fullmatch(text):
        table.fail(row, column.name, f"must be a number, got {_show(text)}")
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    number = float(text)
    if not math.isfinite(number):
        table.fail(row, column.name, f"must be a finite number, got {_show(text)}")
        return None
    return number


@dataclass
class _Records:
    """Records read from one table, with where each came from."""

    table: _Table
    records: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # row number of each record
    by_id: dict[str, int] = field(default_factory=dict)  # id -> row number


def _records(table: _Table, maps: Mapping[str, Callable[[str], str]]) -> _Records:
    """Each row of ``table`` as a record; rows without an id or repeating one are left out."""
    out = _Records(table)
    if table.broken:
        return out
    schema = _SCHEMA[table.kind]
    id_column = next((c for c in schema.values() if c.key == "id"), None)
    for row, cells in table.rows:
        record: dict[str, Any] = {}
        for column in schema.values():
            text = table.cell(cells, column.name)
            if text is None:
                if column.required:
                    table.fail(row, column.name, "required value is missing")
                continue
            value = _convert(table, row, column, text)
            if value is None:
                continue
            mapper = maps.get(column.key)
            if mapper is not None:
                value = [mapper(v) for v in value] if isinstance(value, list) else mapper(value)
            record[column.key] = value
        rid = record.get("id")
        if id_column is not None and rid is None:
            continue  # reported above; validation could only name it by position
        if id_column is not None and isinstance(rid, str):
            if rid in out.by_id:
                table.fail(
                    row,
                    id_column.name,
                    f"duplicate id {rid!r} (first on row {out.by_id[rid]})",
                )
                continue
            out.by_id[rid] = row
        out.records.append(record)
        out.rows.append(row)
    return out


def _check_refs(records: _Records, key: str, known: Mapping[str, int] | None, what: str) -> None:
    """Report references in ``key`` to records not in ``known`` (skipped if unknown)."""
    if known is None:
        return
    column = next(c.name for c in _SCHEMA[records.table.kind].values() if c.key == key)
    for record, row in zip(records.records, records.rows, strict=True):
        value = record.get(key)
        values = value if isinstance(value, list) else [value] if value is not None else []
        for v in values:
            if v not in known:
                records.table.fail(row, column, f"unknown {what} {v!r}")


def _mapper(mapping: Mapping[str, str] | None) -> Callable[[str], str] | None:
    if not mapping:
        return None
    lookup = {label.strip(): target for label, target in mapping.items()}
    return lambda label: lookup.get(label, label)


def default_case_types() -> tuple[CaseType, ...]:
    """The standard case types used when no ``case_types.csv`` is given.

    They are the synthetic authority's (:mod:`caseload.generate`): ``assessment``,
    ``s47``, ``cin_plan``, ``cp_plan``, ``cla``, ``uasc``, ``care_leaver``,
    ``disabled_child`` and ``private_fostering``, with their points, visits per
    month and statutory flag.
    """
    from caseload.generate import _TYPES  # one table of standard types, not two

    return tuple(
        CaseType(id=t, points=points, visits_per_month=visits, must_allocate=statutory)
        for t, (points, visits, statutory, _, _) in _TYPES.items()
    )


def read_csv_instance(
    workers_csv: PathLike,
    cases_csv: PathLike,
    *,
    localities: PathLike | None = None,
    travel_csv: PathLike | None = None,
    case_types_csv: PathLike | None = None,
    case_type_map: Mapping[str, str] | None = None,
    skill_map: Mapping[str, str] | None = None,
    weights: Weights | Mapping[str, float] | None = None,
    name: str | None = None,
) -> Instance:
    """Read an instance from case-management CSV exports.

    Parameters
    ----------
    workers_csv, cases_csv
        The workers and the cases, one per row after a header row (columns in
        ``docs/csv.md``).
    localities
        ``localities.csv`` (``id``, ``internal_minutes``). Without it, the
        localities are those named by workers' bases, cases' locations and
        travel, each with ``internal_minutes`` 0 (so a misspelt location is
        not caught: give this file to catch it).
    travel_csv
        ``travel.csv`` (``from``, ``to``, ``minutes``); without it, no travel
        edges (only visits inside a locality are reachable).
    case_types_csv
        ``case_types.csv`` (``id``, ``points``, ``visits_per_month``,
        ``must_allocate``); without it, :func:`default_case_types`.
    case_type_map
        The system's case-type labels (e.g. ``"Child Protection"``) to case-type
        ids, applied to ``cases.type`` and ``workers.excluded_case_types``. A
        label not in the map is taken as an id.
    skill_map
        Likewise for skills, in both files.
    weights
        Objective weights (defaults for any left out).
    name
        The instance's name.

    Returns
    -------
    Instance
        The validated instance.

    Raises
    ------
    InvalidInstanceError
        With every problem in every file, each named ``<file> row <n>, column
        <name>`` (the header is row 1), or by file alone for a file that is not
        UTF-8 CSV text. Problems found by the instance format's own rules are
        named the same way when their record can be traced to a row.
    OSError
        If a file cannot be read.
    """
    problems = _Problems()
    type_map = _mapper(case_type_map)
    skills = _mapper(skill_map)
    maps: dict[str, dict[str, Callable[[str], str]]] = {
        "workers": {
            k: m
            for k, m in (("skills", skills), ("excluded_case_types", type_map))
            if m is not None
        },
        "cases": {k: m for k, m in (("skills", skills), ("type", type_map)) if m is not None},
    }
    paths = {
        "localities": localities,
        "travel": travel_csv,
        "case_types": case_types_csv,
        "workers": workers_csv,
        "cases": cases_csv,
    }
    read: dict[str, _Records] = {}
    for rank, (kind, path) in enumerate(paths.items()):
        if path is not None:
            table = _read_table(kind, path, rank, problems)
            read[kind] = _records(table, maps.get(kind, {}))
    if any(r.table.broken for r in read.values()):
        raise InvalidInstanceError(problems.sorted())

    def ids(kind: str) -> dict[str, int] | None:
        return read[kind].by_id if kind in read else None

    type_ids = ids("case_types")
    if type_ids is None:
        type_ids = {t.id: 0 for t in default_case_types()}
    loc_ids = ids("localities")
    workers, cases = read["workers"], read["cases"]
    for recs, key in ((workers, "base"), (cases, "location")):
        _check_refs(recs, key, loc_ids, "locality")
    if "travel" in read:
        for key in ("from", "to"):
            _check_refs(read["travel"], key, loc_ids, "locality")
    _check_refs(workers, "excluded_case_types", type_ids, "case type")
    _check_refs(cases, "type", type_ids, "case type")
    _check_refs(cases, "excluded_workers", workers.by_id, "worker")
    for record, row in zip(cases.records, cases.rows, strict=True):
        # A current worker who has left is allowed (the case needs a new one),
        # but not for a pinned case, which must stay with them.
        current = record.get("current_worker")
        if record.get("pinned") and current is not None and current not in workers.by_id:
            cases.table.fail(
                row, "current_worker", f"pinned to {current!r}, not in {workers.table.file}"
            )

    data = _instance_dict(read, weights, name)
    try:
        instance = parse_instance(data)
    except InvalidInstanceError as exc:
        # Cells already reported (a bad number left out, then "missing") are
        # not reported twice.
        reported = set(problems.wheres)
        for p in exc.problems:
            order, where = _locate(p.where, read)
            if where not in reported:
                problems.add(order, where, p.message)
        raise InvalidInstanceError(problems.sorted()) from None
    if problems.items:
        raise InvalidInstanceError(problems.sorted())
    return instance


def _instance_dict(
    read: Mapping[str, _Records],
    weights: Weights | Mapping[str, float] | None,
    name: str | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"format": FORMAT}
    if name is not None:
        data["name"] = name
    if "localities" in read:
        data["localities"] = read["localities"].records
    else:
        seen: dict[str, None] = {}
        for r in read["workers"].records:
            seen.setdefault(r.get("base", ""), None)
        for r in read["cases"].records:
            seen.setdefault(r.get("location", ""), None)
        for r in read["travel"].records if "travel" in read else ():
            seen.setdefault(r.get("from", ""), None)
            seen.setdefault(r.get("to", ""), None)
        data["localities"] = [{"id": loc, "internal_minutes": 0} for loc in seen if loc]
    data["travel"] = read["travel"].records if "travel" in read else []
    if "case_types" in read:
        data["case_types"] = read["case_types"].records
    else:
        data["case_types"] = [
            {
                "id": t.id,
                "points": t.points,
                "visits_per_month": t.visits_per_month,
                "must_allocate": t.must_allocate,
            }
            for t in default_case_types()
        ]
    data["workers"] = read["workers"].records
    data["cases"] = read["cases"].records
    if isinstance(weights, Weights):
        data["weights"] = {**weights.as_dict(), **weights.extras}
    elif weights is not None:
        data["weights"] = dict(weights)
    return data


def _locate(where: str, read: Mapping[str, _Records]) -> tuple[tuple[int, int, int], str]:
    """A validation ``where`` (``cases[c7].priority``) as file, row and column."""
    unplaced = (99, 0, 0)
    kind = where.split("[", 1)[0].split(".", 1)[0]
    if kind == "localities" and kind not in read:
        # Without localities.csv the localities are those the other files name.
        named = " and ".join(
            read[k].table.file for k in ("workers", "cases", "travel") if k in read
        )
        return unplaced, f"localities named in {named}"
    if kind not in read:
        return unplaced, where
    recs = read[kind]
    table = recs.table
    schema = _SCHEMA[kind]
    if where == kind:
        return (table.rank, 0, 0), table.file
    column_of = {c.key: c.name for c in schema.values()}
    row: int | None = None
    rest = where[len(kind) :]
    key: str | None = None
    if kind == "travel":
        match = re.match(r"\[(\d+)\]", rest)
        if match and int(match.group(1)) < len(recs.rows):
            row = recs.rows[int(match.group(1))]
            tail = rest.rsplit(".", 1)
            key = tail[1] if len(tail) == 2 and tail[1] in column_of else None
    else:
        # Ids may hold any character, so try the known fields as suffixes.
        for k in column_of:
            suffix = f"].{k}"
            if rest.startswith("[") and rest.endswith(suffix):
                rid = rest[1 : -len(suffix)]
                if rid in recs.by_id:
                    row, key = recs.by_id[rid], k
                    break
        if row is None and rest.startswith("[") and rest.endswith("]"):
            row = recs.by_id.get(rest[1:-1])
    if row is None:
        return unplaced, where
    column = column_of.get(key) if key is not None else None
    order = list(schema).index(column) if column is not None else 99
    return (table.rank, row, order), table.where(row, column)


def read_csv_folder(
    folder: PathLike,
    *,
    case_type_map: Mapping[str, str] | None = None,
    skill_map: Mapping[str, str] | None = None,
    weights: Weights | Mapping[str, float] | None = None,
    name: str | None = None,
) -> Instance:
    """Read ``workers.csv`` and ``cases.csv`` in ``folder``, with the optional files.

    ``localities.csv``, ``travel.csv`` and ``case_types.csv`` are used when
    present (see :func:`read_csv_instance`); this reads back what
    :func:`write_csv_instance` writes.

    Raises
    ------
    InvalidInstanceError
        As :func:`read_csv_instance`.
    OSError
        If ``workers.csv`` or ``cases.csv`` is missing or a file cannot be read.
    """
    base = Path(folder)

    def optional(file: str) -> Path | None:
        return base / file if (base / file).exists() else None

    return read_csv_instance(
        base / "workers.csv",
        base / "cases.csv",
        localities=optional("localities.csv"),
        travel_csv=optional("travel.csv"),
        case_types_csv=optional("case_types.csv"),
        case_type_map=case_type_map,
        skill_map=skill_map,
        weights=weights,
        name=name,
    )


# -- writing ---------------------------------------------------------------------
Row = Sequence[CellValue]


def _write_rows(
    path_or_file: PathLike | TextIO, header: Sequence[str], rows: Iterable[Row]
) -> None:
    """Write a CSV, neutralising every cell; a path is replaced atomically.

    A path is written to a temporary file in the same folder, then renamed
    over it, so a reader never sees half a file and an error leaves the old
    file (or none) and no temporary file behind. The file is UTF-8 with a BOM,
    which Excel needs to show non-ASCII text correctly.
    """
    if not isinstance(path_or_file, (str, os.PathLike)):
        _emit(path_or_file, header, rows)
        return
    target = Path(path_or_file)
    try:
        handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        # Name the file asked for, not the temporary one.
        raise type(exc)(exc.errno, exc.strerror, str(target)) from exc
    try:
        with open(handle, "w", encoding="utf-8-sig", newline="") as out:
            _emit(out, header, rows)
            out.flush()
            os.fsync(out.fileno())
        if target.exists():
            # mkstemp makes the file private (0600); a file being replaced keeps
            # its own permissions.
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise type(exc)(exc.errno, exc.strerror, str(target)) from exc
        raise


def _emit(out: TextIO, header: Sequence[str], rows: Iterable[Row]) -> None:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])


ALLOCATION_COLUMNS = ("case_id", "worker_id", "status", "reason", "detail")
WORKER_COLUMNS = ("worker_id", "cases", "points", "capacity", "utilisation", "new_cases")


def write_allocation_csv(
    result: Result, path_or_file: PathLike | TextIO, *, instance: Instance | None = None
) -> None:
    """Write one row per case: ``case_id, worker_id, status, reason, detail``.

    ``status`` is ``allocated`` or ``unallocated``; an unallocated case has an
    empty ``worker_id`` and its verified ``reason`` (``no_eligible_worker``,
    ``capacity`` or ``trade_off``) and ``detail``. Text cells are neutralised
    with :func:`safe_cell`.

    Parameters
    ----------
    result
        The allocation.
    path_or_file
        A path, replaced atomically (UTF-8 with a BOM), or an open text file
        (opened with ``newline=""``).
    instance
        The solved instance: rows then follow its case order, and every one of
        its cases must be in the result. Without it, allocated cases come
        first, then unallocated ones.

    Raises
    ------
    ValueError
        If ``instance`` is given and the result does not cover exactly its cases.
    """
    if instance is not None:
        ids = [c.id for c in instance.cases]
        covered = set(result.assignments) | set(result.unallocated)
        missing = [c for c in ids if c not in covered]
        extra = covered - set(ids)
        if missing or extra:
            raise ValueError(
                f"the result does not match the instance: {len(missing)} of its cases "
                f"missing from the result, {len(extra)} cases not in it"
            )
    else:
        ids = [*result.assignments, *result.unallocated]

    def rows() -> Iterable[Row]:
        for case_id in ids:
            if case_id in result.assignments:
                yield (case_id, result.assignments[case_id], "allocated", None, None)
            else:
                u = result.unallocated[case_id]
                yield (case_id, None, "unallocated", u.reason, u.detail or None)

    _write_rows(path_or_file, ALLOCATION_COLUMNS, rows())


def write_workers_csv(result: Result, path_or_file: PathLike | TextIO) -> None:
    """Write one row per worker: ``worker_id, cases, points, capacity, utilisation, new_cases``.

    ``utilisation`` is points over capacity as a fraction (``0.94``), empty for
    a worker with no capacity; ``points`` and ``utilisation`` are rounded to
    six decimal places. The worker id is neutralised with :func:`safe_cell`.

    Parameters
    ----------
    result
        The allocation.
    path_or_file
        A path, replaced atomically (UTF-8 with a BOM), or an open text file
        (opened with ``newline=""``).
    """
    rows = (
        (
            r.worker,
            r.cases,
            round(r.points, 6),
            r.capacity,
            None if r.utilisation is None else round(r.utilisation, 6),
            r.new_cases,
        )
        for r in result.workers
    )
    _write_rows(path_or_file, WORKER_COLUMNS, rows)


def _cell_of(value: Any) -> CellValue:
    if isinstance(value, tuple):
        return LIST_SEPARATOR.join(value)
    return value


def write_csv_instance(instance: Instance, folder: PathLike) -> dict[str, Path]:
    """Write ``instance`` as the CSV files :func:`read_csv_folder` reads back.

    Writes ``localities.csv``, ``travel.csv``, ``case_types.csv``,
    ``workers.csv`` and ``cases.csv`` into ``folder`` (created if needed),
    each atomically, with every documented column and text cells neutralised
    by :func:`safe_cell`. The instance's ``name``, ``weights`` and ``x_``
    extension keys have no column: pass ``name`` and ``weights`` when reading.

    Reading the files back gives an equal instance::

        write_csv_instance(inst, folder)
        again = read_csv_folder(folder, weights=inst.weights, name=inst.name)
        # again == inst

    Parameters
    ----------
    instance
        The instance.
    folder
        Where to write.

    Returns
    -------
    dict of str to Path
        The path written for each kind of record (``"workers"``, ``"cases"``, ...).

    Raises
    ------
    ValueError
        Before writing anything, if a value would not read back the same: text
        that is empty, has surrounding whitespace or a NUL, or a list item
        holding ``;``. The message names the record and field by id.
    """
    tables: dict[str, tuple[tuple[str, ...], list[list[CellValue]]]] = {}
    for kind, records in (
        ("localities", instance.localities),
        ("travel", instance.travel),
        ("case_types", instance.case_types),
        ("workers", instance.workers),
        ("cases", instance.cases),
    ):
        schema = _SCHEMA[kind]
        rows: list[list[CellValue]] = []
        for index, record in enumerate(records):
            label = f"{kind}[{getattr(record, 'id', index)}]"
            row: list[CellValue] = []
            for column in schema.values():
                attr = {"from": "source", "to": "target"}.get(column.key, column.key)
                value = getattr(record, attr)
                _check_writable(value, column, f"{label}.{column.key}")
                row.append(_cell_of(value))
            rows.append(row)
        tables[kind] = (tuple(schema), rows)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for kind, (header, rows) in tables.items():
        path = out / _FILE_OF[kind]
        _write_rows(path, header, rows)
        written[kind] = path
    return written


def _check_writable(value: Any, column: _Column, where: str) -> None:
    """Refuse text that the reader would not give back unchanged."""
    items: tuple[Any, ...] = value if isinstance(value, tuple) else (value,)
    for item in items:
        if not isinstance(item, str):
            continue
        back = _unquote(safe_cell(item).strip())
        if not item or back != item or "\0" in item:
            raise ValueError(
                f"{where}: cannot be written to CSV so that it reads back the same "
                "(empty, surrounding whitespace or NUL)"
            )
        if column.kind == "list" and LIST_SEPARATOR in item:
            raise ValueError(f"{where}: a list item holds {LIST_SEPARATOR!r}, the list separator")
