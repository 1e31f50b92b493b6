r"""Where an allocation's objective comes from: by term, worker, locality and case type.

Every table is recomputed from the instance and the allocation (never taken
from solver bookkeeping), so it agrees with :func:`caseload.check`. Tables are
lists of plain dicts; :meth:`Breakdown.to_frames` turns them into pandas
DataFrames (``pip install caseload[frames]``) and :meth:`Breakdown.to_csv`
writes them as CSV files whose text cells are safe to open in a spreadsheet.

Term rows give the raw value :math:`v_t`, its weight :math:`w_t`, the weighted
value :math:`w_t v_t` and its share of the total :math:`w_t v_t / \sum_s w_s v_s`.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from caseload.data import TERMS, Instance
from caseload.result import REASONS, Result, evaluate


@dataclass(frozen=True)
class Breakdown:
    """The tables of an allocation.

    Attributes
    ----------
    terms
        One row per objective term: ``term, value, weight, weighted, share``.
    workers
        One row per worker: ``worker, base, role, cases, new_cases, points,
        capacity, utilisation`` (utilisation ``None`` at zero capacity).
    localities
        One row per locality: ``locality, workers, capacity, cases, demand``
        (points of the cases located there), ``allocated_points``,
        ``unallocated``, one ``unallocated_<reason>`` column per reason and
        ``unallocated_statutory``.
    case_types
        One row per case type: ``case_type, cases, allocated, unallocated``,
        one column per reason, and ``unallocated_priority_<p>`` for p = 5..1.
    unallocated
        One row per unallocated case: ``case, type, location, priority,
        statutory, reason`` (ids and codes only).
    """

    terms: list[dict[str, Any]]
    workers: list[dict[str, Any]]
    localities: list[dict[str, Any]]
    case_types: list[dict[str, Any]]
    unallocated: list[dict[str, Any]]

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        """Table name -> rows."""
        return {
            "terms": self.terms,
            "workers": self.workers,
            "localities": self.localities,
            "case_types": self.case_types,
            "unallocated": self.unallocated,
        }

    def to_frames(self) -> dict[str, Any]:
        """Table name -> ``pandas.DataFrame`` (needs the ``frames`` extra)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frames needs pandas: pip install 'caseload[frames]'") from exc
        return {name: pd.DataFrame(rows) for name, rows in self.tables().items()}

    def to_csv(self, folder: str | os.PathLike[str]) -> dict[str, Path]:
        """Write one CSV file per table into ``folder``; returns the paths.

        Text cells are neutralised against spreadsheet formula injection
        (see :func:`caseload.csvio.safe_cell`); each file is written whole or
        not at all.
        """
        from caseload.csvio import safe_cell

        out = {}
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        for name, rows in self.tables().items():
            path = target / f"{name}.csv"
            columns = list(rows[0]) if rows else []
            fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(columns)
                    for row in rows:
                        writer.writerow(
                            [
                                safe_cell(v) if isinstance(v, str) else ("" if v is None else v)
                                for v in (row[c] for c in columns)
                            ]
                        )
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            out[name] = path
        return out


def breakdown(instance: Instance, result: Result) -> Breakdown:
    """The tables of ``result``, recomputed from ``instance``.

    Parameters
    ----------
    instance
        The instance that was solved.
    result
        Its result (any allocation of it).
    """
    allocation = result.allocation
    objective = evaluate(instance, allocation)
    weights = instance.weights.as_dict()
    total = sum(weights[t] * objective[t] for t in TERMS)
    terms = [
        {
            "term": t,
            "value": objective[t],
            "weight": weights[t],
            "weighted": weights[t] * objective[t],
            "share": (weights[t] * objective[t] / total) if total else 0.0,
        }
        for t in TERMS
    ]

    by_worker = {r.worker: r for r in result.workers}
    workers = [
        {
            "worker": w.id,
            "base": w.base,
            "role": w.role,
            "cases": by_worker[w.id].cases,
            "new_cases": by_worker[w.id].new_cases,
            "points": by_worker[w.id].points,
            "capacity": w.capacity,
            "utilisation": by_worker[w.id].utilisation,
        }
        for w in instance.workers
    ]

    reasons = {u.case: u.reason for u in result.unallocated.values()}
    localities = []
    for x in instance.localities:
        here = [c for c in instance.cases if c.location == x.id]
        staff = [w for w in instance.workers if w.base == x.id]
        out = [c for c in here if allocation.get(c.id) is None]
        why = Counter(reasons[c.id] for c in out)
        localities.append(
            {
                "locality": x.id,
                "workers": len(staff),
                "capacity": sum(w.capacity for w in staff),
                "cases": len(here),
                "demand": sum(instance.points(c) for c in here),
                "allocated_points": sum(
                    instance.points(c) for c in here if allocation.get(c.id) is not None
                ),
                "unallocated": len(out),
                **{f"unallocated_{r}": why[r] for r in REASONS},
                "unallocated_statutory": sum(instance.statutory(c) for c in out),
            }
        )

    case_types = []
    for t in instance.case_types:
        of_type = [c for c in instance.cases if c.type == t.id]
        out = [c for c in of_type if allocation.get(c.id) is None]
        why = Counter(reasons[c.id] for c in out)
        by_priority = Counter(c.priority for c in out)
        case_types.append(
            {
                "case_type": t.id,
                "cases": len(of_type),
                "allocated": len(of_type) - len(out),
                "unallocated": len(out),
                **{f"unallocated_{r}": why[r] for r in REASONS},
                **{f"unallocated_priority_{p}": by_priority[p] for p in (5, 4, 3, 2, 1)},
            }
        )

    unallocated = [
        {
            "case": c.id,
            "type": c.type,
            "location": c.location,
            "priority": c.priority,
            "statutory": instance.statutory(c),
            "reason": reasons[c.id],
        }
        for c in instance.cases
        if allocation.get(c.id) is None
    ]
    return Breakdown(terms, workers, localities, case_types, unallocated)
