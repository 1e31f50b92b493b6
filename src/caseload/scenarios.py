"""What-if variants of an instance: today's changes, leavers, new workers, weights.

Every function returns a new, validated :class:`~caseload.data.Instance` and
leaves its argument untouched, so variants can be built side by side and
solved in any order (or at once, see :func:`solve_all`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import replace
from typing import Any

from caseload.data import Case, Instance, Worker
from caseload.errors import InvalidInstanceError, Problem
from caseload.result import Result


def _validated(instance: Instance) -> Instance:
    return Instance.from_dict(instance.to_dict())


def with_allocation(instance: Instance, allocation: Result | Mapping[str, str | None]) -> Instance:
    """The instance the day after ``allocation``: each case's current worker is its worker.

    Cases left unallocated have no current worker; pinned cases keep theirs
    (an allocation of a valid instance keeps them anyway).
    """
    chosen = allocation.allocation if isinstance(allocation, Result) else dict(allocation)
    cases = tuple(
        c if c.pinned or c.id not in chosen else replace(c, current_worker=chosen[c.id])
        for c in instance.cases
    )
    return _validated(replace(instance, cases=cases))


def add_cases(instance: Instance, cases: Iterable[Case | Mapping[str, Any]]) -> Instance:
    """New referrals added to the instance (records or ``caseload-instance/1`` dicts)."""
    data = instance.to_dict()
    data["cases"] = data["cases"] + [_as_dict(c) for c in cases]
    return Instance.from_dict(data)


def close_cases(instance: Instance, case_ids: Iterable[str]) -> Instance:
    """The instance without the given (closed) cases.

    Raises
    ------
    InvalidInstanceError
        Naming every id that is not a case of the instance.
    """
    gone = set(case_ids)
    unknown = gone - {c.id for c in instance.cases}
    if unknown:
        raise InvalidInstanceError(
            [Problem(f"cases[{c}]", "no such case to close") for c in sorted(unknown)]
        )
    return _validated(replace(instance, cases=tuple(c for c in instance.cases if c.id not in gone)))


def without_worker(instance: Instance, worker_id: str) -> Instance:
    """The instance after ``worker_id`` leaves (or goes on long-term absence).

    Their cases keep them as ``current_worker`` — a worker no longer in the
    instance, which the format reads as "needs a new worker" — so the moves
    are visible in the result; pins to them are released, and conflicts of
    interest naming them are dropped.

    Raises
    ------
    InvalidInstanceError
        If ``worker_id`` is not a worker of the instance.
    """
    if worker_id not in {w.id for w in instance.workers}:
        raise InvalidInstanceError([Problem(f"workers[{worker_id}]", "no such worker")])
    cases = []
    for c in instance.cases:
        if c.current_worker == worker_id and c.pinned:
            c = replace(c, pinned=False)
        if worker_id in c.excluded_workers:
            c = replace(c, excluded_workers=tuple(x for x in c.excluded_workers if x != worker_id))
        cases.append(c)
    workers = tuple(w for w in instance.workers if w.id != worker_id)
    return _validated(replace(instance, workers=workers, cases=tuple(cases)))


def add_worker(instance: Instance, worker: Worker | Mapping[str, Any]) -> Instance:
    """The instance with one more worker (a record or a ``caseload-instance/1`` dict)."""
    data = instance.to_dict()
    data["workers"] = data["workers"] + [_as_dict(worker)]
    return Instance.from_dict(data)


def with_weights(instance: Instance, **weights: float) -> Instance:
    """The instance with some objective weights changed, e.g. ``travel=2``."""
    data = instance.to_dict()
    data["weights"] = {**data.get("weights", {}), **weights}
    return Instance.from_dict(data)


def with_capacity(instance: Instance, worker_id: str, capacity: float) -> Instance:
    """The instance with one worker's capacity changed (e.g. a move to 0.5 FTE).

    Raises
    ------
    InvalidInstanceError
        If ``worker_id`` is not a worker of the instance, or the capacity is
        invalid (including below the worker's pinned work).
    """
    if worker_id not in {w.id for w in instance.workers}:
        raise InvalidInstanceError([Problem(f"workers[{worker_id}]", "no such worker")])
    workers = tuple(
        replace(w, capacity=capacity) if w.id == worker_id else w for w in instance.workers
    )
    return _validated(replace(instance, workers=workers))


def with_peak_cap(instance: Instance, cap: float) -> Instance:
    """Every worker's capacity cut to ``cap`` percent, and the balance weight to 0.

    The epsilon-constraint form of fairness: no worker above ``cap``% of
    their capacity, the rest of the objective minimised. An allocation of the
    capped instance is an allocation of the original one (re-read it there
    with :func:`caseload.result.result_of`).

    Raises
    ------
    InvalidInstanceError
        If some worker's pinned work alone breaks the cap.
    """
    workers = tuple(replace(w, capacity=w.capacity * cap / 100.0) for w in instance.workers)
    weights = replace(instance.weights, balance=0.0)
    return _validated(replace(instance, workers=workers, weights=weights))


def solve_all(
    instances: Mapping[str, Instance],
    *,
    executor: Executor | None = None,
    **options: Any,
) -> dict[str, Result]:
    """Solve named variants, optionally on an executor, and return results by name.

    Parameters
    ----------
    instances
        Name -> instance.
    executor
        Any :class:`concurrent.futures.Executor` — a thread or process pool, or
        a Dask ``distributed.Client``'s executor (``client.get_executor()``) to
        spread hundreds of scenarios over a cluster. ``None`` solves them one
        after another here.
    **options
        Passed to :func:`caseload.solve` (``time_limit``, ``threads``, ``seed``…).
    """
    from caseload.solve import solve

    if executor is None:
        return {name: solve(inst, **options) for name, inst in instances.items()}
    futures = {name: executor.submit(solve, inst, **options) for name, inst in instances.items()}
    return {name: f.result() for name, f in futures.items()}


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, Mapping):
        return dict(record)
    from caseload.data import _record

    return _record(record)
