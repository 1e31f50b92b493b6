r"""The core problem: a multi-resource generalised assignment with skips and a peak term.

Items are assigned to at most one agent each, over a sparse list of allowed
(item, agent) *pairs*. With :math:`x_p \in \{0, 1\}` for pair :math:`p = (i, a)`:

.. math::

    \min \; \sum_p c_p x_p + \sum_i s_i \Bigl(1 - \sum_{p \ni i} x_p\Bigr)
    + \beta \max_{a : K_a > 0} \frac{100 \sum_{p \ni a} u_{0p} x_p}{K_a}

subject to :math:`\sum_{p \ni i} x_p \le 1` for every item (``= 1`` where
:math:`s_i = \infty`), and :math:`\sum_{p \ni a} u_{rp} x_p \le L_{ra}` for every
resource :math:`r` and agent :math:`a`.

The social-care layer compiles into this (items are sibling groups or single
cases, agents are workers, resources are points, cases and new cases); the
OR-Library GAP reader does too, with one resource, no skips and no peak term.
Solvers see only this module's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

UNASSIGNED = -1


@dataclass(frozen=True, eq=False)
class SideLimit:
    r"""One global linear limit across all items: a budget such as moves.

    .. math::

        \sum_p a_p x_p + \sum_i b_i \Bigl(1 - \sum_{p \ni i} x_p\Bigr) \le L

    Attributes
    ----------
    pair_coef
        ``float64[P]``: :math:`a_p`, used when pair ``p`` is chosen.
    skip_coef
        ``float64[I]``: :math:`b_i`, used when item ``i`` is left out.
    limit
        :math:`L`.
    """

    pair_coef: np.ndarray
    skip_coef: np.ndarray
    limit: float

    def value(self, problem: AssignmentProblem, assignment: np.ndarray) -> float:
        """The left-hand side for an assignment."""
        pairs = problem.pairs_of(assignment)
        skipped = assignment == UNASSIGNED
        return float(self.pair_coef[pairs].sum() + self.skip_coef[skipped].sum())


@dataclass(frozen=True, eq=False)
class AssignmentProblem:
    """Arrays of the core problem; pairs are sorted by item, then agent.

    Attributes
    ----------
    num_items, num_agents
        Sizes.
    pair_item, pair_agent
        ``int64[P]``: the item and agent of each allowed pair.
    pair_cost
        ``float64[P]``: :math:`c_p`, the cost of making the assignment.
    pair_usage
        ``float64[R, P]``: :math:`u_{rp}`, resource ``r`` used by the pair.
    limits
        ``float64[R, A]``: :math:`L_{ra}`; ``inf`` where there is no limit.
    skip_cost
        ``float64[I]``: :math:`s_i`, the cost of leaving item ``i`` out;
        ``inf`` where the item must be assigned.
    peak_weight
        :math:`\\beta`, the weight of the peak-utilisation term.
    peak_capacity
        ``float64[A]``: :math:`K_a`; agents with 0 do not count in the peak.
    resource_names
        A name per resource, for messages.
    incumbent
        ``int64[I]``: the agent holding each item today (``-1`` for none), a
        hint for construction and search; it changes no cost.
    peak_floor
        A peak already reached outside this problem (a sub-problem of a larger
        one): the peak term is :math:`\\beta \\max(\\text{floor}, \\ldots)`.
    """

    num_items: int
    num_agents: int
    pair_item: np.ndarray
    pair_agent: np.ndarray
    pair_cost: np.ndarray
    pair_usage: np.ndarray
    limits: np.ndarray
    skip_cost: np.ndarray
    peak_weight: float
    peak_capacity: np.ndarray
    resource_names: tuple[str, ...]
    peak_floor: float = 0.0
    incumbent: np.ndarray | None = None

    def __post_init__(self) -> None:
        order = np.lexsort((self.pair_agent, self.pair_item))
        if not np.array_equal(order, np.arange(order.size)):
            raise ValueError("pairs must be sorted by item, then agent")

    def restricted(
        self,
        keep: np.ndarray,
        *,
        skip_cost: np.ndarray | None = None,
        limits: np.ndarray | None = None,
    ) -> AssignmentProblem:
        """The same items and agents with only the pairs in mask ``keep``.

        ``skip_cost`` and ``limits`` replace the problem's where given (to fix
        items, make them unskippable with one pair left; to pack around
        fixed items, pass the room they leave). The incumbent is dropped; the
        agents' groups are kept.
        """
        return AssignmentProblem(
            num_items=self.num_items,
            num_agents=self.num_agents,
            pair_item=self.pair_item[keep],
            pair_agent=self.pair_agent[keep],
            pair_cost=self.pair_cost[keep],
            pair_usage=self.pair_usage[:, keep],
            limits=self.limits if limits is None else limits,
            skip_cost=self.skip_cost if skip_cost is None else skip_cost,
            peak_weight=self.peak_weight,
            peak_capacity=self.peak_capacity,
            resource_names=self.resource_names,
            peak_floor=self.peak_floor,
        )

    @property
    def num_pairs(self) -> int:
        """Number of allowed (item, agent) pairs."""
        return int(self.pair_item.size)

    @cached_property
    def item_start(self) -> np.ndarray:
        """``int64[I + 1]``: the pairs of item ``i`` are ``item_start[i]:item_start[i+1]``.

        Worked out once: the search calls for it thousands of times on a
        county's 1.5 million pairs. Read-only, as the pair arrays are.
        """
        start = np.searchsorted(self.pair_item, np.arange(self.num_items + 1))
        start.flags.writeable = False
        return start

    @cached_property
    def incumbent_pairs(self) -> np.ndarray:
        """``bool[P]``: the pairs giving each item to its incumbent (none without one).

        Worked out once: the search and the price-based views all keep these
        pairs on offer. Read-only, as the pair arrays are.
        """
        if self.incumbent is None:
            mask = np.zeros(self.num_pairs, dtype=bool)
        else:
            mask = self.pair_agent == self.incumbent[self.pair_item]
        mask.flags.writeable = False
        return mask

    @cached_property
    def _pair_keys(self) -> np.ndarray:
        """``item * num_agents + agent`` per pair: sorted, as the pairs are."""
        return self.pair_item * self.num_agents + self.pair_agent

    def loads(self, chosen: np.ndarray) -> np.ndarray:
        """``float64[R, A]``: resources used per agent by the chosen pairs (a mask or indices)."""
        idx = np.flatnonzero(chosen) if chosen.dtype == bool else chosen
        agents = self.pair_agent[idx]
        out = np.zeros((self.pair_usage.shape[0], self.num_agents))
        for r, usage in enumerate(self.pair_usage):
            out[r] = np.bincount(agents, weights=usage[idx], minlength=self.num_agents)
        return out

    def peak(self, loads: np.ndarray) -> float:
        """Peak utilisation in percent over agents with ``peak_capacity > 0``."""
        counted = self.peak_capacity > 0
        if not counted.any():
            return self.peak_floor
        peak = float(np.max(100.0 * loads[0, counted] / self.peak_capacity[counted]))
        return max(self.peak_floor, peak)

    def pairs_of(self, assignment: np.ndarray) -> np.ndarray:
        """Indices of the pairs an assignment (agent per item, -1 for none) uses.

        Raises
        ------
        ValueError
            If an item is assigned to an agent it has no pair with.
        """
        items = np.flatnonzero(assignment != UNASSIGNED)
        return self.pairs_for(items, assignment[items])

    def pairs_for(self, items: np.ndarray, agents: np.ndarray) -> np.ndarray:
        """Indices of the pairs giving ``items[k]`` to ``agents[k]`` (no ``-1``).

        Raises
        ------
        ValueError
            If an item has no pair with its agent.
        """
        keys = self._pair_keys
        want = items * self.num_agents + agents
        found = np.minimum(np.searchsorted(keys, want), max(keys.size - 1, 0))
        bad = keys[found] != want if keys.size else np.ones(items.size, dtype=bool)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"item {int(items[k])} has no pair with agent {int(agents[k])}")
        return found

    def objective(self, assignment: np.ndarray) -> float:
        """The objective of an assignment (``inf`` when a must-assign item is out)."""
        return self.evaluate(assignment)[0]

    def evaluate(self, assignment: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective of an assignment and its loads (see :meth:`loads`), in one pass."""
        pairs = self.pairs_of(assignment)
        skipped = assignment == UNASSIGNED
        skip = float(self.skip_cost[skipped].sum()) if skipped.any() else 0.0
        cost = float(self.pair_cost[pairs].sum()) + skip
        loads = self.loads(pairs)
        if self.peak_weight:
            cost += self.peak_weight * self.peak(loads)
        return cost, loads

    def violations(self, assignment: np.ndarray, rtol: float = 1e-9) -> list[str]:
        """Resource limits an assignment breaks (empty when feasible)."""
        return self.over_limits(self.loads(self.pairs_of(assignment)), rtol)

    def over_limits(self, loads: np.ndarray, rtol: float = 1e-9) -> list[str]:
        """The limits that ``loads`` (as from :meth:`evaluate`) break."""
        over = loads > self.limits * (1 + rtol)
        return [
            f"agent {a}: {self.resource_names[r]} {loads[r, a]:g} > {self.limits[r, a]:g}"
            for r, a in zip(*np.nonzero(over), strict=True)
        ]
