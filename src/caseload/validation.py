"""Validation of ``caseload-instance/1`` objects, listing every problem at once.

Structural rules (types, ranges, ids, references) are checked field by field;
then, when the records they depend on are sound, the semantic rules: travel
edges, pinned cases, and the *pinned closure* (every pinned case, with its
sibling group, on its current worker) against hard constraints 1-6.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from caseload.data import (
    DEFAULT_WEIGHTS,
    FORMAT,
    Case,
    CaseType,
    Instance,
    Locality,
    TravelEdge,
    Weights,
    Worker,
)
from caseload.errors import InvalidInstanceError, Problem

_TOP_REQUIRED = ("format", "localities", "case_types", "workers", "cases")
_TOP_OPTIONAL = ("name", "travel", "weights")

_MISSING = object()

#: Largest instance accepted: cases x workers, the size of the eligibility
#: matrices built in memory (50 million is about 2 GiB at peak; a county of
#: 15,000 cases and 1,000 workers is 15 million). See SECURITY.md.
MAX_CASE_WORKER_CELLS = 50_000_000
#: Most localities accepted (travel times are an all-pairs matrix).
MAX_LOCALITIES = 2_000


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: float) -> bool:
    """Finite, and as a float too (a Python int of 309 digits is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _short(value: float) -> str:
    if isinstance(value, int):
        # str() of an int past 4,300 digits raises; its size says enough.
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    return str(value)


class _Reader:
    """Reads fields of one JSON record, collecting problems instead of raising."""

    def __init__(self, problems: list[Problem], where: str, record: Any, keys: tuple[str, ...]):
        self.problems = problems
        self.where = where
        self.record = record if isinstance(record, dict) else {}
        self.ok = True
        if not isinstance(record, dict):
            self.fail("", f"must be a JSON object, got {_kind(record)}")
            return
        for key in getattr(record, "duplicates", ()):
            self.fail(key, "key appears more than once in this object")
        for key in record:
            if key not in keys and not key.startswith("x_"):
                self.fail(key, f"unknown key (allowed: {', '.join(keys)}, or x_...)")

    def extras(self) -> dict[str, Any]:
        return {k: v for k, v in self.record.items() if k.startswith("x_")}

    def fail(self, key: str, message: str) -> None:
        self.ok = False
        self.problems.append(Problem(f"{self.where}.{key}" if key else self.where, message))

    def get(self, key: str, required: bool) -> Any:
        value = self.record.get(key, _MISSING)
        if value is _MISSING and required:
            self.fail(key, "required field is missing")
        return value

    def id(self) -> str:
        value = self.record.get("id")
        return value if isinstance(value, str) else ""

    def string(
        self, key: str, *, required: bool = False, nonempty: bool = True, nullable: bool = False
    ) -> str | None:
        value = self.get(key, required)
        if value is _MISSING or (value is None and nullable):
            return None
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {_kind(value)}")
            return None
        if nonempty and not value:
            self.fail(key, "must not be empty")
            return None
        return value

    def number(
        self,
        key: str,
        *,
        required: bool = False,
        default: float | None = None,
        minimum: float | None = None,
        positive: bool = False,
        integer: bool = False,
        maximum: float | None = None,
    ) -> Any:
        value = self.get(key, required)
        if value is _MISSING:
            return default
        if not _is_number(value):
            self.fail(key, f"must be a number, got {_kind(value)}")
            return default
        if not _finite(value):
            self.fail(key, f"must be a finite number, got {_short(value)}")
            return default
        if integer:
            if value != int(value):
                self.fail(key, f"must be a whole number, got {value}")
                return default
            value = int(value)
        if positive and value <= 0:
            self.fail(key, f"must be > 0, got {value}")
            return default
        if minimum is not None and value < minimum:
            self.fail(key, f"must be >= {minimum:g}, got {value}")
            return default
        if maximum is not None and value > maximum:
            self.fail(key, f"must be <= {maximum:g}, got {value}")
            return default
        return value

    def boolean(self, key: str, default: bool | None) -> bool | None:
        value = self.get(key, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {_kind(value)}")
            return default
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, False)
        if value is _MISSING:
            return ()
        if not isinstance(value, list):
            self.fail(key, f"must be a list of strings, got {_kind(value)}")
            return ()
        bad = [i for i, item in enumerate(value) if not isinstance(item, str) or not item]
        if bad:
            self.fail(key, f"items {bad} must be non-empty strings")
            return ()
        return tuple(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _records(
    problems: list[Problem],
    data: dict[str, Any],
    key: str,
    keys: tuple[str, ...],
    build: Callable[[_Reader], Any],
    *,
    at_least_one: bool = False,
) -> list[Any]:
    """Parse a list of id'd records, returning the good ones."""
    raw = data.get(key, _MISSING)
    if raw is _MISSING:
        return []  # reported with the top-level keys
    if not isinstance(raw, list):
        problems.append(Problem(key, f"must be a list, got {_kind(raw)}"))
        return []
    if at_least_one and not raw:
        problems.append(Problem(key, "must have at least one record"))
        return []
    out: list[Any] = []
    seen: set[str] = set()
    for i, record in enumerate(raw):
        rid = record.get("id") if isinstance(record, dict) else None
        label = rid if isinstance(rid, str) and rid else f"#{i}"
        reader = _Reader(problems, f"{key}[{label}]", record, keys)
        rid = reader.string("id", required=True) if isinstance(record, dict) else None
        if rid is not None:
            if rid in seen:
                reader.fail("id", f"duplicate id {rid!r} (ids must be unique within {key})")
            seen.add(rid)
        built = build(reader) if isinstance(record, dict) else None
        if reader.ok and built is not None:
            out.append(built)
    return out


def parse_instance(data: Any) -> Instance:
    """Validate a parsed JSON object and build the :class:`Instance`.

    Raises
    ------
    InvalidInstanceError
        With every problem found, each naming the record and field.
    """
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise InvalidInstanceError(
            [Problem("instance", f"must be a JSON object, got {_kind(data)}")]
        )
    too_big = _size_problem(data)
    if too_big is not None:
        raise InvalidInstanceError([too_big])
    top = _Reader(problems, "instance", data, _TOP_REQUIRED + _TOP_OPTIONAL)
    for key in _TOP_REQUIRED:
        top.get(key, True)
    fmt = data.get("format", _MISSING)
    if fmt is not _MISSING and fmt != FORMAT:
        top.fail("format", f"must be {FORMAT!r}, got {fmt!r}")
    name = top.string("name", nonempty=False)

    localities = _records(
        problems,
        data,
        "localities",
        ("id", "internal_minutes"),
        lambda r: Locality(
            id=r.id(),
            internal_minutes=r.number("internal_minutes", default=0, minimum=0),
            extras=r.extras(),
        ),
        at_least_one=True,
    )
    loc_ids = _raw_ids(data, "localities")

    case_types = _records(
        problems,
        data,
        "case_types",
        ("id", "points", "visits_per_month", "must_allocate"),
        lambda r: CaseType(
            id=r.id(),
            points=r.number("points", required=True, minimum=0),
            visits_per_month=r.number("visits_per_month", default=1, minimum=0),
            must_allocate=bool(r.boolean("must_allocate", False)),
            extras=r.extras(),
        ),
        at_least_one=True,
    )
    type_ids = _raw_ids(data, "case_types")
    travel = _parse_travel(problems, data, loc_ids)
    worker_ids = _raw_ids(data, "workers")

    def worker(r: _Reader) -> Worker:
        base = r.string("base", required=True)
        if base is not None and loc_ids is not None and base not in loc_ids:
            r.fail("base", f"unknown locality {base!r}")
        excluded = r.strings("excluded_case_types")
        if type_ids is not None:
            for t in excluded:
                if t not in type_ids:
                    r.fail("excluded_case_types", f"unknown case type {t!r}")
        role = r.string("role", nonempty=False)
        return Worker(
            id=r.id(),
            base=base or "",
            capacity=r.number("capacity", required=True, minimum=0),
            max_cases=r.number("max_cases", integer=True, minimum=0),
            skills=r.strings("skills"),
            excluded_case_types=excluded,
            max_travel_minutes=r.number("max_travel_minutes", positive=True),
            max_new_cases=r.number("max_new_cases", integer=True, minimum=0),
            role=role,
            fte=r.number("fte", minimum=0),
            extras=r.extras(),
        )

    workers = _records(
        problems,
        data,
        "workers",
        (
            "id",
            "base",
            "capacity",
            "max_cases",
            "skills",
            "excluded_case_types",
            "max_travel_minutes",
            "max_new_cases",
            "role",
            "fte",
        ),
        worker,
    )

    def case(r: _Reader) -> Case:
        ctype = r.string("type", required=True)
        if ctype is not None and type_ids is not None and ctype not in type_ids:
            r.fail("type", f"unknown case type {ctype!r}")
        location = r.string("location", required=True)
        if location is not None and loc_ids is not None and location not in loc_ids:
            r.fail("location", f"unknown locality {location!r}")
        excluded = r.strings("excluded_workers")
        for w in excluded:
            if worker_ids is not None and w not in worker_ids:
                r.fail("excluded_workers", f"unknown worker {w!r}")
        current = r.string("current_worker", nullable=True)
        pinned = bool(r.boolean("pinned", False))
        # Here rather than in check_pinned, which needs a whole instance, so
        # that they are listed with the other problems, not once those are fixed.
        if pinned and r.record.get("current_worker") is None:
            r.fail("pinned", "a pinned case needs a current_worker")
        elif (
            pinned and current is not None and worker_ids is not None and current not in worker_ids
        ):
            r.fail("current_worker", f"pinned to {current!r}, who is not a worker of the instance")
        return Case(
            id=r.id(),
            type=ctype or "",
            location=location or "",
            points=r.number("points", minimum=0),
            visits_per_month=r.number("visits_per_month", minimum=0),
            skills=r.strings("skills"),
            priority=r.number("priority", default=1, integer=True, minimum=1, maximum=5),
            group=r.string("group"),
            current_worker=current,
            pinned=pinned,
            excluded_workers=excluded,
            must_allocate=r.boolean("must_allocate", None),
            extras=r.extras(),
        )

    cases = _records(
        problems,
        data,
        "cases",
        (
            "id",
            "type",
            "location",
            "points",
            "visits_per_month",
            "skills",
            "priority",
            "group",
            "current_worker",
            "pinned",
            "excluded_workers",
            "must_allocate",
        ),
        case,
    )

    weights = _parse_weights(problems, data)

    if problems:
        raise InvalidInstanceError(problems)
    instance = Instance(
        localities=tuple(localities),
        case_types=tuple(case_types),
        workers=tuple(workers),
        cases=tuple(cases),
        travel=tuple(travel),
        weights=weights,
        name=name,
        extras=top.extras(),
    )
    problems.extend(check_pinned(instance))
    if problems:
        raise InvalidInstanceError(problems)
    return instance


def _size_problem(data: dict[str, Any]) -> Problem | None:
    """A refusal for an instance beyond the documented limits, before any work."""

    def count(key: str) -> int:
        value = data.get(key)
        return len(value) if isinstance(value, list) else 0

    cells = count("cases") * max(1, count("workers"))
    if cells > MAX_CASE_WORKER_CELLS:
        return Problem(
            "instance",
            f"too large: {count('cases'):,} cases x {count('workers'):,} workers = {cells:,} "
            f"exceeds the limit of {MAX_CASE_WORKER_CELLS:,} (split it, e.g. by locality)",
        )
    if count("localities") > MAX_LOCALITIES:
        return Problem(
            "localities",
            f"too many: {count('localities'):,} exceeds the limit of {MAX_LOCALITIES:,}",
        )
    return None


def _raw_ids(data: dict[str, Any], key: str) -> set[str] | None:
    """Ids present in a raw list, or None when the list itself is unusable.

    A record with a problem elsewhere still exists by id, so references to it
    are not reported as unknown on top of its own problem.
    """
    raw = data.get(key)
    if not isinstance(raw, list):
        return None
    return {r["id"] for r in raw if isinstance(r, dict) and isinstance(r.get("id"), str)}


def _parse_travel(
    problems: list[Problem], data: dict[str, Any], loc_ids: set[str] | None
) -> list[TravelEdge]:
    raw = data.get("travel", [])
    if not isinstance(raw, list):
        problems.append(Problem("travel", f"must be a list, got {_kind(raw)}"))
        return []
    edges: list[TravelEdge] = []
    pairs: dict[frozenset[str], int] = {}
    for i, record in enumerate(raw):
        ends = ""
        if isinstance(record, dict):
            a, b = record.get("from"), record.get("to")
            ends = f" ({a if isinstance(a, str) else '?'}-{b if isinstance(b, str) else '?'})"
        r = _Reader(problems, f"travel[{i}]{ends}", record, ("from", "to", "minutes"))
        if not isinstance(record, dict):
            continue
        a = r.string("from", required=True)
        b = r.string("to", required=True)
        minutes = r.number("minutes", required=True, positive=True)
        for key, end in (("from", a), ("to", b)):
            if end is not None and loc_ids is not None and end not in loc_ids:
                r.fail(key, f"unknown locality {end!r}")
        if a is not None and b is not None:
            if a == b:
                r.fail("to", f"self-loop: an edge must join two different localities ({a!r})")
            else:
                pair = frozenset((a, b))
                if pair in pairs:
                    r.fail("from", f"the pair {a}-{b} is already listed as travel[{pairs[pair]}]")
                else:
                    pairs[pair] = i
        if r.ok:
            edges.append(TravelEdge(a or "", b or "", minutes, extras=r.extras()))
    return edges


def _parse_weights(problems: list[Problem], data: dict[str, Any]) -> Weights:
    raw = data.get("weights", _MISSING)
    if raw is _MISSING:
        return Weights()
    r = _Reader(problems, "weights", raw, tuple(DEFAULT_WEIGHTS))
    if not isinstance(raw, dict):
        return Weights()
    values = {
        term: r.number(term, default=default, minimum=0)
        for term, default in DEFAULT_WEIGHTS.items()
    }
    return Weights(**values, extras=r.extras())


def check_pinned(instance: Instance) -> list[Problem]:
    """Problems with pinned cases and their closure (hard constraints 1-6).

    The pinned closure puts every pinned case, and every other member of its
    sibling group, on the pinned case's current worker; all else is
    unallocated. A valid instance's closure is itself an allocation, which is
    why a solver can always return one.
    """
    from caseload.eligibility import eligible_pairs_of

    problems: list[Problem] = []
    workers = {w.id: w for w in instance.workers}
    group_worker: dict[str, tuple[str, str]] = {}
    closure: dict[str, str] = {}  # case id -> worker id
    for case in instance.cases:
        if not case.pinned:
            continue
        where = f"cases[{case.id}]"
        if case.current_worker not in workers:
            continue  # reported with the record's other problems (parse_instance)
        closure[case.id] = case.current_worker
        if case.group is not None:
            other = group_worker.setdefault(case.group, (case.id, case.current_worker))
            if other[1] != case.current_worker:
                problems.append(
                    Problem(
                        f"{where}.current_worker",
                        f"pinned to {case.current_worker!r} but its sibling {other[0]!r} "
                        f"(group {case.group!r}) is pinned to {other[1]!r}",
                    )
                )
    if not closure:
        return problems
    for case in instance.cases:
        if case.id not in closure and case.group in group_worker:
            closure[case.id] = group_worker[case.group][1]

    by_id = {c.id: c for c in instance.cases}
    eligible = eligible_pairs_of(instance, [(by_id[c], workers[w]) for c, w in closure.items()])
    load: dict[str, list[float]] = {}
    for (case_id, worker_id), ok in zip(closure.items(), eligible, strict=True):
        case = by_id[case_id]
        if not ok:
            how = "pinned to" if case.pinned else f"in pinned sibling group {case.group!r} with"
            problems.append(
                Problem(
                    f"cases[{case_id}].current_worker"
                    if case.pinned
                    else f"cases[{case_id}].group",
                    f"{how} worker {worker_id!r}, who is not eligible for it",
                )
            )
        row = load.setdefault(worker_id, [0.0, 0, 0])
        row[0] += instance.points(case)
        row[1] += 1
        row[2] += case.current_worker != worker_id
    for worker_id, (points, count, new) in load.items():
        w = workers[worker_id]
        where = f"workers[{worker_id}]"
        if points > w.capacity * (1 + 1e-9):
            problems.append(
                Problem(
                    f"{where}.capacity",
                    f"pinned cases and their siblings need {points:.12g} points, "
                    f"capacity is {w.capacity:.12g}",
                )
            )
        if w.max_cases is not None and count > w.max_cases:
            problems.append(
                Problem(
                    f"{where}.max_cases",
                    f"pinned cases and their siblings are {count}, max_cases is {w.max_cases}",
                )
            )
        if w.max_new_cases is not None and new > w.max_new_cases:
            problems.append(
                Problem(
                    f"{where}.max_new_cases",
                    f"pinned sibling groups bring {new} new cases, "
                    f"max_new_cases is {w.max_new_cases}",
                )
            )
    return problems
