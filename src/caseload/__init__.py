"""caseload: optimal, explainable allocation of children's social care cases.

The layers, from the outside in: a social-care domain model (:mod:`caseload.data`,
:class:`Model`), compiled (:mod:`caseload.compile`) into a core assignment
problem (:mod:`caseload.problem`), solved by the modules under
:mod:`caseload.solvers` (the only ones that import OR-Tools), and returned as a
:class:`Result` that :func:`check` verifies independently.
"""

import logging

from caseload.breakdown import Breakdown, breakdown
from caseload.check import CheckReport, check
from caseload.csvio import (
    read_csv_folder,
    read_csv_instance,
    safe_cell,
    write_allocation_csv,
    write_csv_instance,
    write_workers_csv,
)
from caseload.data import (
    Case,
    CaseType,
    Instance,
    Locality,
    TravelEdge,
    Weights,
    Worker,
    read_instance,
    write_instance,
)
from caseload.errors import InvalidInstanceError, Problem
from caseload.explain import CaseExplanation, MoveExplanation, explain_case, explain_moves
from caseload.model import Model
from caseload.result import Move, Result, Unallocated, WorkerRow
from caseload.solve import solve

logging.getLogger("caseload").addHandler(logging.NullHandler())

__version__ = "0.1.0"

__all__ = [
    "Breakdown",
    "Case",
    "CaseExplanation",
    "CaseType",
    "CheckReport",
    "Instance",
    "InvalidInstanceError",
    "Locality",
    "Model",
    "Move",
    "MoveExplanation",
    "Problem",
    "Result",
    "TravelEdge",
    "Unallocated",
    "Weights",
    "Worker",
    "WorkerRow",
    "__version__",
    "breakdown",
    "check",
    "explain_case",
    "explain_moves",
    "read_csv_folder",
    "read_csv_instance",
    "read_instance",
    "safe_cell",
    "solve",
    "write_allocation_csv",
    "write_csv_instance",
    "write_instance",
    "write_workers_csv",
]
