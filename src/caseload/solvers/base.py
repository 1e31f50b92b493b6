"""What every solver of the core problem returns."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Progress:
    """A point on a solve's trajectory: seconds since start, objective and bound."""

    seconds: float
    objective: float
    bound: float | None


@dataclass(frozen=True, eq=False)
class SolverOutput:
    """An assignment (agent per item, ``-1`` for none) and what was proved.

    ``bound`` is a valid lower bound on the objective of every feasible
    assignment, or ``None``; ``proved_optimal`` means the assignment's objective
    equals the optimum.
    """

    assignment: np.ndarray | None
    bound: float | None
    bound_source: str
    proved_optimal: bool = False
    infeasible: bool = False
    statistics: dict[str, Any] = field(default_factory=dict)


def watch(stop: Callable[[], bool], halt: Callable[[], object]) -> threading.Event:
    """Poll ``stop`` every 50 ms beside a solve and call ``halt`` when it says so.

    Solvers call back only on events (a new solution), which may be seconds
    apart; a caller cancelling a solve should not wait for the next one. Set
    the returned event to end the watch.
    """
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.05):
            if stop():
                halt()
                return

    threading.Thread(target=poll, daemon=True, name="caseload-stop").start()
    return done
