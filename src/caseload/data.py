"""Immutable records of an allocation problem, in social-care words.

These mirror the ``caseload-instance/1`` JSON format one to one (see
``docs/format.md``). Build them with :class:`caseload.Model` in a notebook, or
read them with :meth:`Instance.from_dict` / :func:`read_instance`; both run the
same validation, so an :class:`Instance` in hand is always valid.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

FORMAT = "caseload-instance/1"

#: Objective weights used when an instance leaves one out.
DEFAULT_WEIGHTS: dict[str, float] = {
    "statutory": 1_000_000,
    "unallocated": 1000,
    "continuity": 200,
    "travel": 1,
    "balance": 50,
}

TERMS: tuple[str, ...] = tuple(DEFAULT_WEIGHTS)

#: Largest instance file read (a county is about 6 MB).
MAX_FILE_BYTES = 512 * 1024 * 1024

Extras = Mapping[str, Any]


def _extras() -> dict[str, Any]:
    return {}


@dataclass(frozen=True, slots=True)
class Locality:
    """A place workers are based and children live.

    ``internal_minutes`` is the travel time of a visit inside the locality.
    """

    id: str
    internal_minutes: float = 0
    extras: Extras = field(default_factory=_extras, compare=False)


@dataclass(frozen=True, slots=True)
class TravelEdge:
    """An undirected road between two localities, in minutes."""

    source: str
    target: str
    minutes: float
    extras: Extras = field(default_factory=_extras, compare=False)


@dataclass(frozen=True, slots=True)
class CaseType:
    """A kind of case: its default points, visit rhythm and statutory status."""

    id: str
    points: float
    visits_per_month: float = 1
    must_allocate: bool = False
    extras: Extras = field(default_factory=_extras, compare=False)


@dataclass(frozen=True, slots=True)
class Worker:
    """A case-holding social worker.

    ``capacity`` is in workload points and is what binds; ``role`` and ``fte``
    are kept for reports only.
    """

    id: str
    base: str
    capacity: float
    max_cases: int | None = None
    skills: tuple[str, ...] = ()
    excluded_case_types: tuple[str, ...] = ()
    max_travel_minutes: float | None = None
    max_new_cases: int | None = None
    role: str | None = None
    fte: float | None = None
    extras: Extras = field(default_factory=_extras, compare=False)


@dataclass(frozen=True, slots=True)
class Case:
    """One child's case.

    Optional ``points``, ``visits_per_month`` and ``must_allocate`` override the
    case type's; use :meth:`Instance.points` and friends for resolved values.
    """

    id: str
    type: str
    location: str
    points: float | None = None
    visits_per_month: float | None = None
    skills: tuple[str, ...] = ()
    priority: int = 1
    group: str | None = None
    current_worker: str | None = None
    pinned: bool = False
    excluded_workers: tuple[str, ...] = ()
    must_allocate: bool | None = None
    extras: Extras = field(default_factory=_extras, compare=False)


@dataclass(frozen=True, slots=True)
class Weights:
    r"""Weights of the objective terms.

    The allocation minimises

    .. math::

        w_s \cdot \mathrm{statutory} + w_u \cdot \mathrm{unallocated}
        + w_c \cdot \mathrm{continuity} + w_t \cdot \mathrm{travel}
        + w_b \cdot \mathrm{balance}

    where, with :math:`A` the assigned (case, worker) pairs and :math:`U` the
    unallocated cases,

    - statutory :math:`= |\{c \in U : \mathrm{must\_allocate}(c)\}|`
    - unallocated :math:`= \sum_{c \in U} \mathrm{priority}(c)`
    - continuity :math:`= |\{c : \mathrm{cw}(c) \in W,\ c \text{ not with } \mathrm{cw}(c)\}|`
    - travel :math:`= \sum_{(c, w) \in A} \mathrm{visits}(c)\,
      t(\mathrm{base}(w), \mathrm{loc}(c))`
    - balance :math:`= \max_{w : \mathrm{cap}(w) > 0} 100 \cdot \mathrm{load}(w) / \mathrm{cap}(w)`
    """

    statutory: float = DEFAULT_WEIGHTS["statutory"]
    unallocated: float = DEFAULT_WEIGHTS["unallocated"]
    continuity: float = DEFAULT_WEIGHTS["continuity"]
    travel: float = DEFAULT_WEIGHTS["travel"]
    balance: float = DEFAULT_WEIGHTS["balance"]
    extras: Extras = field(default_factory=_extras, compare=False)

    def as_dict(self) -> dict[str, float]:
        """The five weights by term name."""
        return {term: getattr(self, term) for term in TERMS}


@dataclass(frozen=True, slots=True)
class Instance:
    """A complete, validated allocation problem.

    Use :func:`dataclasses.replace` (or :meth:`replace`) to derive what-if
    variants; derived instances are re-validated.
    """

    localities: tuple[Locality, ...]
    case_types: tuple[CaseType, ...]
    workers: tuple[Worker, ...]
    cases: tuple[Case, ...]
    travel: tuple[TravelEdge, ...] = ()
    weights: Weights = field(default_factory=Weights)
    name: str | None = None
    extras: Extras = field(default_factory=_extras, compare=False)

    # -- resolved case attributes -------------------------------------------
    def case_type(self, case: Case) -> CaseType:
        """The case type record of ``case``."""
        return self._types()[case.type]

    def points(self, case: Case) -> float:
        """Workload points of ``case`` (its own, else its type's)."""
        return case.points if case.points is not None else self.case_type(case).points

    def visits(self, case: Case) -> float:
        """Visits per month of ``case`` (its own, else its type's)."""
        if case.visits_per_month is not None:
            return case.visits_per_month
        return self.case_type(case).visits_per_month

    def statutory(self, case: Case) -> bool:
        """Whether ``case`` must be allocated (its own flag, else its type's)."""
        if case.must_allocate is not None:
            return case.must_allocate
        return self.case_type(case).must_allocate

    def _types(self) -> dict[str, CaseType]:
        return {t.id: t for t in self.case_types}

    # -- conversion -----------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> Instance:
        """Validate a parsed ``caseload-instance/1`` object.

        Raises
        ------
        InvalidInstanceError
            Listing every problem, each naming the record and field.
        """
        from caseload.validation import parse_instance

        return parse_instance(data)

    def to_dict(self) -> dict[str, Any]:
        """The instance as a ``caseload-instance/1`` object."""
        out: dict[str, Any] = {"format": FORMAT}
        if self.name is not None:
            out["name"] = self.name
        out["localities"] = [_record(x) for x in self.localities]
        out["travel"] = [
            {"from": e.source, "to": e.target, "minutes": e.minutes, **e.extras}
            for e in self.travel
        ]
        out["case_types"] = [_record(x) for x in self.case_types]
        out["workers"] = [_record(x) for x in self.workers]
        out["cases"] = [_record(x) for x in self.cases]
        out["weights"] = {**self.weights.as_dict(), **self.weights.extras}
        out.update(self.extras)
        return out

    def replace(self, **changes: Any) -> Instance:
        """A validated copy with some top-level fields replaced."""
        return Instance.from_dict(replace(self, **changes).to_dict())


def _record(obj: Any) -> dict[str, Any]:
    """A record as JSON, leaving out optional fields that are unset or empty."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        if f.name == "extras":
            continue
        value = getattr(obj, f.name)
        if value is None or value == ():
            continue
        if isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    out.update(obj.extras)
    return out


def _keep_constant(name: str) -> float:
    # NaN and Infinity are not JSON; keep them as floats so validation can name
    # the field instead of failing the whole parse.
    return float(name)


class _Object(dict[str, Any]):
    """A JSON object that remembers keys it saw more than once."""

    duplicates: tuple[str, ...] = ()


def _object_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    seen: list[str] = []
    for key, value in pairs:
        if key in obj:
            seen.append(key)
        else:
            obj[key] = value
    if seen:
        obj.duplicates = tuple(seen)
    return obj


def loads(text: str | bytes) -> Any:
    """Parse JSON text, keeping track of repeated keys.

    Repeated keys are reported by validation with the record that holds them.
    Raises :class:`json.JSONDecodeError` (a :class:`ValueError`) on bad JSON.
    """
    return json.loads(
        text,
        object_pairs_hook=_object_pairs,
        parse_constant=_keep_constant,
        parse_int=_parse_int,
    )


def _parse_int(text: str) -> int | float:
    """An integer literal, or an infinity past what a float holds, so that
    validation names the field ("must be a finite number") rather than the
    arithmetic failing later (and Python refuses to parse over 4,300 digits)."""
    if len(text) > 300:
        return -math.inf if text.startswith("-") else math.inf
    return int(text)


def read_instance(path: str | os.PathLike[str]) -> Instance:
    """Read and validate an instance file.

    Raises
    ------
    InvalidInstanceError
        If the file is not JSON or the instance breaks the format's rules.
    OSError
        If the file cannot be read.
    """
    from caseload.errors import InvalidInstanceError, Problem

    size = Path(path).stat().st_size
    if size > MAX_FILE_BYTES:
        raise InvalidInstanceError(
            [Problem("instance", f"file too large: {size:,} bytes, limit {MAX_FILE_BYTES:,}")]
        )
    raw = Path(path).read_bytes()
    try:
        data = loads(raw)
    except (ValueError, RecursionError) as exc:
        where = "instance"
        if isinstance(exc, json.JSONDecodeError):
            where = f"instance (line {exc.lineno}, column {exc.colno})"
            exc_msg = exc.msg
        else:
            exc_msg = "not valid JSON (nested too deeply or not UTF-8)"
        raise InvalidInstanceError([Problem(where, f"not valid JSON: {exc_msg}")]) from None
    return Instance.from_dict(data)


def write_instance(instance: Instance, path: str | os.PathLike[str]) -> None:
    """Write ``instance`` as a ``caseload-instance/1`` JSON file."""
    Path(path).write_text(json.dumps(instance.to_dict(), indent=1) + "\n", encoding="utf-8")
