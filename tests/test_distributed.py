"""Scenarios solved on a Dask cluster give the same results as solved here.

Needs the ``distributed`` extra (``pip install 'caseload[distributed]'``); skipped
without it.
"""

from __future__ import annotations

from typing import Any

import pytest

import caseload as cl
from caseload import scenarios as sc
from caseload.generate import generate_authority

distributed = pytest.importorskip("distributed")

OPTIONS = {"time_limit": 8, "seed": 3, "threads": 1}


def _variants() -> dict[str, cl.Instance]:
    """Three what-ifs on a small generated authority, cut to its first 200 cases.

    At this size every variant is proved optimal in well under a second, so
    the comparison does not hang on how busy the machine is.
    """
    full = cl.Instance.from_dict(generate_authority("small", 2))
    base = sc.close_cases(full, [c.id for c in full.cases[200:]])
    leaver = base.workers[0].id
    return {
        "base": base,
        "travel x5": sc.with_weights(base, travel=5),
        "leaver": sc.without_worker(base, leaver),
    }


def _comparable(result: cl.Result) -> dict[str, Any]:
    data = result.to_dict()
    data.pop("runtime_seconds")
    return data


def _executor(client: Any) -> Any:
    """The client's ``concurrent.futures`` executor (``client`` itself in old versions)."""
    if hasattr(client, "get_executor"):
        return client.get_executor()
    return client  # pragma: no cover - distributed before get_executor


def test_solve_all_on_a_local_cluster_matches_solving_here():
    variants = _variants()
    here = sc.solve_all(variants, **OPTIONS)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        there = sc.solve_all(variants, executor=_executor(client), **OPTIONS)
    assert list(there) == list(variants)
    for name, instance in variants.items():
        report = cl.check(instance, there[name])
        assert report.ok, (name, report.violations)
        assert _comparable(there[name]) == _comparable(here[name]), name
    # The variants really differ, so the comparison means something.
    assert len({str(_comparable(r)["objective"]) for r in there.values()}) == 3
