"""Which workers may hold which cases (the five eligibility rules).

Worker ``w`` is eligible for case ``c`` when ``c``'s skills are all among
``w``'s, ``c``'s type is not excluded for ``w``, ``w`` is not excluded by ``c``
(conflict of interest), ``w``'s base reaches ``c``'s location within
``w.max_travel_minutes``, and ``c``'s points fit ``w``'s capacity with
``max_cases`` at least one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from caseload.data import Case, Instance, Worker
from caseload.travel import travel_matrix


def eligibility_matrix(instance: Instance, minutes: np.ndarray | None = None) -> np.ndarray:
    """Boolean matrix ``[case, worker]``, in instance order, built with numpy."""
    if minutes is None:
        minutes = travel_matrix(instance)
    cases, workers = instance.cases, instance.workers
    loc = {x.id: i for i, x in enumerate(instance.localities)}
    types = {x.id: i for i, x in enumerate(instance.case_types)}
    widx = {w.id: j for j, w in enumerate(workers)}

    skills = sorted({s for c in cases for s in c.skills})
    sidx = {s: k for k, s in enumerate(skills)}
    needs = np.zeros((len(cases), len(skills)), dtype=np.int32)
    for i, c in enumerate(cases):
        needs[i, [sidx[s] for s in c.skills]] = 1
    lacks = np.ones((len(skills), len(workers)), dtype=np.int32)
    for j, w in enumerate(workers):
        lacks[[sidx[s] for s in w.skills if s in sidx], j] = 0
    ok = (needs @ lacks) == 0

    excluded_type = np.zeros((len(types), len(workers)), dtype=bool)
    for j, w in enumerate(workers):
        excluded_type[[types[t] for t in w.excluded_case_types], j] = True
    case_type = np.array([types[c.type] for c in cases], dtype=np.int64)
    ok &= ~excluded_type[case_type]

    base = np.array([loc[w.base] for w in workers], dtype=np.int64)
    where = np.array([loc[c.location] for c in cases], dtype=np.int64)
    limit = np.array(
        [np.inf if w.max_travel_minutes is None else w.max_travel_minutes for w in workers]
    )
    t = minutes[base][:, where].T  # [case, worker]
    ok &= np.isfinite(t) & (t <= limit)

    points = np.array([instance.points(c) for c in cases], dtype=float)
    capacity = np.array([w.capacity for w in workers], dtype=float)
    room = np.array([w.max_cases is None or w.max_cases >= 1 for w in workers], dtype=bool)
    ok &= (points[:, None] <= capacity[None, :]) & room[None, :]

    for i, c in enumerate(cases):
        if c.excluded_workers:
            ok[i, [widx[w] for w in c.excluded_workers]] = False
    return ok


def is_eligible(instance: Instance, case: Case, worker: Worker, minutes: float) -> bool:
    """Whether ``worker`` may hold ``case``, given the travel time between them."""
    return (
        set(case.skills) <= set(worker.skills)
        and case.type not in worker.excluded_case_types
        and worker.id not in case.excluded_workers
        and np.isfinite(minutes)
        and (worker.max_travel_minutes is None or minutes <= worker.max_travel_minutes)
        and instance.points(case) <= worker.capacity
        and (worker.max_cases is None or worker.max_cases >= 1)
    )


def eligible_pairs_of(instance: Instance, pairs: Iterable[tuple[Case, Worker]]) -> list[bool]:
    """Eligibility of a few (case, worker) pairs."""
    minutes = travel_matrix(instance)
    loc = {x.id: i for i, x in enumerate(instance.localities)}
    return [
        is_eligible(instance, c, w, float(minutes[loc[w.base], loc[c.location]])) for c, w in pairs
    ]


def why_not_eligible(instance: Instance, worker: Worker, case: Case, minutes: float) -> str | None:
    """The first eligibility rule ``worker`` fails for ``case``, in plain words, or ``None``.

    ``minutes`` is the travel time from the worker's base to the case's
    location (``inf`` when unreachable). The words complete "N workers ...",
    for explanations that count workers by the rule that rules them out.
    """
    if not set(case.skills) <= set(worker.skills):
        return "lack a required skill"
    if case.type in worker.excluded_case_types:
        return "do not take this case type"
    if worker.id in case.excluded_workers:
        return "have a conflict of interest"
    too_far = worker.max_travel_minutes is not None and minutes > worker.max_travel_minutes
    if not np.isfinite(minutes) or too_far:
        return "are too far away"
    if instance.points(case) > worker.capacity or (
        worker.max_cases is not None and worker.max_cases < 1
    ):
        return "have too little capacity"
    return None
