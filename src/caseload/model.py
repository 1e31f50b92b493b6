"""A builder for instances, for notebooks and services that assemble data in code.

>>> import caseload as cl
>>> m = cl.Model("tiny")
>>> north = m.add_locality("north", internal_minutes=10)
>>> cp = m.add_case_type("cp_plan", points=7, visits_per_month=2.2, must_allocate=True)
>>> ana = m.add_worker("ana", base=north, capacity=85, skills=["cp"])
>>> _ = m.add_case("c1", type=cp, location=north, skills=["cp"], current_worker=ana)
>>> m.solve(time_limit=5, threads=1).assignments
{'c1': 'ana'}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, cast

from caseload.data import Case, CaseType, Instance, Locality, TravelEdge, Weights, Worker
from caseload.result import Result

Ref = str | Locality | CaseType | Worker


def _id(ref: Ref | None) -> str | None:
    return ref if ref is None or isinstance(ref, str) else ref.id


class Model:
    """Collects localities, travel, case types, workers and cases.

    Each ``add_*`` returns the record it made, which later calls accept in
    place of an id. :meth:`data` validates everything at once and returns the
    :class:`~caseload.Instance` (raising :class:`~caseload.InvalidInstanceError`
    listing every problem).
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self.localities: list[Locality] = []
        self.travel: list[TravelEdge] = []
        self.case_types: list[CaseType] = []
        self.workers: list[Worker] = []
        self.cases: list[Case] = []
        self.weights = Weights()

    @classmethod
    def from_instance(cls, instance: Instance) -> Model:
        """A builder holding the records of ``instance``, to extend or change."""
        m = cls(instance.name)
        m.localities = list(instance.localities)
        m.travel = list(instance.travel)
        m.case_types = list(instance.case_types)
        m.workers = list(instance.workers)
        m.cases = list(instance.cases)
        m.weights = instance.weights
        return m

    def add_locality(self, id: str, *, internal_minutes: float = 0) -> Locality:
        """Add a locality; ``internal_minutes`` is the time of a visit inside it."""
        loc = Locality(id, internal_minutes)
        self.localities.append(loc)
        return loc

    def add_travel(self, a: Ref, b: Ref, minutes: float) -> TravelEdge:
        """Add an undirected road of ``minutes`` between two localities."""
        edge = TravelEdge(_id(a) or "", _id(b) or "", minutes)
        self.travel.append(edge)
        return edge

    def add_case_type(
        self,
        id: str,
        *,
        points: float,
        visits_per_month: float = 1,
        must_allocate: bool = False,
    ) -> CaseType:
        """Add a case type with its default points, visits and statutory status."""
        ct = CaseType(id, points, visits_per_month, must_allocate)
        self.case_types.append(ct)
        return ct

    def add_worker(
        self,
        id: str,
        *,
        base: Ref,
        capacity: float,
        max_cases: int | None = None,
        skills: Iterable[str] = (),
        excluded_case_types: Iterable[Ref] = (),
        max_travel_minutes: float | None = None,
        max_new_cases: int | None = None,
        role: str | None = None,
        fte: float | None = None,
    ) -> Worker:
        """Add a case-holding worker based at ``base`` with ``capacity`` points."""
        w = Worker(
            id=id,
            base=_id(base) or "",
            capacity=capacity,
            max_cases=max_cases,
            skills=tuple(skills),
            excluded_case_types=tuple(_id(t) or "" for t in excluded_case_types),
            max_travel_minutes=max_travel_minutes,
            max_new_cases=max_new_cases,
            role=role,
            fte=fte,
        )
        self.workers.append(w)
        return w

    def add_case(
        self,
        id: str,
        *,
        type: Ref,
        location: Ref,
        points: float | None = None,
        visits_per_month: float | None = None,
        skills: Iterable[str] = (),
        priority: int = 1,
        group: str | None = None,
        current_worker: Ref | None = None,
        pinned: bool = False,
        excluded_workers: Iterable[Ref] = (),
        must_allocate: bool | None = None,
    ) -> Case:
        """Add a child's case; ``group`` names its sibling group."""
        c = Case(
            id=id,
            type=_id(type) or "",
            location=_id(location) or "",
            points=points,
            visits_per_month=visits_per_month,
            skills=tuple(skills),
            priority=priority,
            group=group,
            current_worker=_id(current_worker),
            pinned=pinned,
            excluded_workers=tuple(_id(w) or "" for w in excluded_workers),
            must_allocate=must_allocate,
        )
        self.cases.append(c)
        return c

    def set_weights(self, **weights: float) -> Weights:
        """Change some objective weights (statutory, unallocated, continuity, travel, balance)."""
        self.weights = replace(self.weights, **cast(dict[str, Any], weights))
        return self.weights

    def data(self) -> Instance:
        """The validated instance."""
        raw = Instance(
            localities=tuple(self.localities),
            case_types=tuple(self.case_types),
            workers=tuple(self.workers),
            cases=tuple(self.cases),
            travel=tuple(self.travel),
            weights=self.weights,
            name=self.name,
        )
        return Instance.from_dict(raw.to_dict())

    def solve(self, **kwargs: Any) -> Result:
        """Validate and solve; keyword arguments go to :func:`caseload.solve`."""
        from caseload.solve import solve

        return solve(self.data(), **kwargs)
