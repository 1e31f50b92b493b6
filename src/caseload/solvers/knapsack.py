r"""Lagrangian bound with whole items per agent: one small knapsack per agent.

Pricing the items instead of the agents (:math:`\lambda_i \ge 0` on "at most one
agent per item", free on "exactly one") and the peak as in
:mod:`caseload.solvers.lagrangian` (:math:`\nu_a \ge 0`,
:math:`\sum_a \nu_a \le \beta`) splits the problem by agent. Agent :math:`a`
then picks the set of its pairs with the most profit
:math:`-\bar c_p = -(c_p - s_i + \lambda_i + \nu_a\, 100\, u_{0p} / K_a)` that fits
*all* its limits at once — points, cases and new cases — with every item whole:

.. math::

    L(\lambda, \nu) = \sum_i s_i - \sum_i \lambda_i
    + \Bigl(\beta - \sum_a \nu_a\Bigr)\mathrm{floor}
    - \sum_a \max_{S \subseteq P_a \text{ fits}} \sum_{p \in S} (-\bar c_p).

The knapsacks are solved exactly by dynamic programming over (new cases, cases,
points) with points rounded *down* to a grid, which can only enlarge each
knapsack's maximum and so keeps the bound valid. Started from the LP duals it is
at least the LP bound up to that rounding (an integral knapsack never beats its
LP relaxation), and more where whole items waste capacity: the LP fills every
worker to the last fraction of a case, real allocations cannot.

From there :meth:`KnapsackLagrangian.climb` moves the item prices by
subgradient steps with Polyak's rule: with :math:`g_i = t_i - 1` (:math:`t_i`
the number of knapsacks taking item :math:`i`, the derivative of :math:`L` in
:math:`\lambda_i`) and :math:`U` the best allocation's objective,

.. math::

    \lambda \leftarrow \Pi\bigl(\lambda + \theta (U - L(\lambda, \nu)) g / \lVert g \rVert^2\bigr)

where :math:`\Pi` keeps the prices of items that may be left out at zero or
above, :math:`U` is capped at 2% above the best bound so far, and
:math:`\theta` starts at 1 and shrinks by a tenth after each step that does
not raise the best value. Every value along the way is a bound; the best one
is kept.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable

import numpy as np

from caseload.problem import UNASSIGNED, AssignmentProblem
from caseload.solvers.lagrangian import SkipForm

#: Points are rounded down to multiples of 1 / POINT_GRID for the dynamic programme
#: (whole points, as in a GAP, are taken as they are).
POINT_GRID = 10
#: Largest DP table (new x cases x points cells) per agent; beyond it, points are coarser.
MAX_CELLS = 400_000
#: Largest table (most pairs of an agent x agents x units of capacity) for
#: solving a GAP's knapsacks all at once (c10200: 200 x 10 x 250; d80x1600,
#: 1,600 x 80 x about 800, is solved one agent at a time).
FLAT_CELLS = 20_000_000
#: The climb goes on only if the time left allows this many evaluations of the
#: bound: its first steps overshoot and lower the value (on a medium authority
#: it first passes its start after 7-12 steps, 0.7 s each alone, 1.7 s beside
#: the search), so with less time the first evaluation is all there is. At
#: 60 s, seed 0, 25 against 40 (which leaves 60 s runs at the first
#: evaluation): medium-1 416,125 -> 419,570 (objective 435,736; 437,737 and
#: 434,363 in two runs without the climb), medium-0 unchanged (559,674).
CLIMB_MIN_STEPS = 25
#: The climb ends when its step factor falls below this: converged.
CLIMB_MIN_THETA = 0.01
#: ... or when this many steps have not passed its start: where the LP's prices
#: are already about the best the knapsacks allow (large-0 and large-2: none of
#: 30 and 60 steps above the start), the core is the search's. Medium-0/1/2
#: pass it after 12 / 7 / 10 steps. Large-1 / large-2 at 60 s, seed 0, with 30:
#: 45,360.4 / 60,191.1 against 45,246.6 / 59,793.9 without the climb.
CLIMB_PATIENCE = 15
#: Polyak's U is at most this far above the best bound: the best allocation
#: early in a search is far above the optimum, and steps sized by it overshoot
#: so far that the climb never gets back above its start. Medium-0 from the LP
#: (559,674), 30 steps: U = 565,000 / 570,000 -> 561,449 / 561,923; U =
#: 650,000 -> 560,846; beside a 300 s search, U its best allocation (590,000 -
#: 630,000), 45 steps never passed the start.
CLIMB_TARGET_GAP = 0.02


def _undominated(
    profit: np.ndarray, weight: np.ndarray, counts: np.ndarray, count_caps: np.ndarray
) -> np.ndarray:
    """Pairs that some optimal knapsack may need.

    Among pairs using the same amounts of every counted resource (cases, new
    cases), a solution holds at most ``K`` of them (what those limits allow).
    A pair with ``K`` others of its kind at least as profitable and no heavier
    can always be swapped for one of them, so it is dropped.
    """
    keep = np.ones(profit.size, dtype=bool)
    if counts.shape[0] == 0:
        return keep
    kinds = np.unique(counts, axis=1, return_inverse=True)[1].reshape(-1)
    for kind in np.unique(kinds).tolist():
        members = np.flatnonzero(kinds == kind)
        use = counts[:, members[0]]
        limit = min(
            (int(c) // int(u) for u, c in zip(use, count_caps, strict=True) if u > 0),
            default=members.size,
        )
        if limit == 0:
            keep[members] = False  # none of this kind fits at all
            continue
        if members.size <= limit:
            continue
        # Lighter first, then more profitable: everyone before a pair is no heavier.
        order = members[np.lexsort((-profit[members], weight[members]))]
        best: list[float] = []  # the `limit` largest profits seen so far (a min-heap)
        for j in order.tolist():
            if len(best) >= limit and best[0] >= profit[j]:
                keep[j] = False
                continue
            if len(best) < limit:
                heapq.heappush(best, float(profit[j]))
            else:
                heapq.heapreplace(best, float(profit[j]))
    return keep


class KnapsackLagrangian:
    """Evaluates the bound for item prices and improves them by subgradient steps."""

    def __init__(self, problem: AssignmentProblem) -> None:
        p = problem
        self.p = p
        form = SkipForm.of(p)
        self.must, self.base_cost, self.constant = form.must, form.base_cost, form.constant
        self.beta, self.util = form.beta, form.util
        self.by_agent = np.argsort(p.pair_agent, kind="stable")
        self.agent_start = np.searchsorted(p.pair_agent[self.by_agent], np.arange(p.num_agents + 1))
        self.best = -math.inf
        # Whole points (a GAP's weights) need no finer grid: same table, a tenth the size.
        points = np.concatenate([p.pair_usage[0], p.limits[0][np.isfinite(p.limits[0])]])
        self.grid = 1 if bool(np.all(points == np.round(points))) else POINT_GRID
        self.flat = self._flat_layout()

    def _flat_layout(self) -> tuple[np.ndarray, np.ndarray] | None:
        """A GAP's pairs, one row per agent (``-1`` pads), and the capacities.

        With one resource in whole units and no peak, every agent's knapsack
        can be solved at once, one pair per step for all agents; ``None``
        where that does not apply or the table would pass :data:`FLAT_CELLS`.
        """
        p = self.p
        limits = p.limits[0]
        if p.pair_usage.shape[0] != 1 or self.grid != 1 or self.beta or p.num_pairs == 0:
            return None
        if not np.all(np.isfinite(limits)) or np.any(limits < 0):
            return None
        counts = np.diff(self.agent_start)
        if int(counts.max()) * p.num_agents * (int(limits.max()) + 1) > FLAT_CELLS:
            return None
        agent = p.pair_agent[self.by_agent]
        slot = np.full((p.num_agents, int(counts.max())), -1, dtype=np.int64)
        slot[agent, np.arange(p.num_pairs) - self.agent_start[agent]] = self.by_agent
        return slot, limits.astype(np.int64)

    def _all_knapsacks(self, reduced: np.ndarray) -> tuple[float, np.ndarray]:
        """Every agent's best profit, summed, and the pairs taking them (see ``flat``)."""
        assert self.flat is not None
        slot, caps = self.flat
        p = self.p
        top = int(caps.max())
        real = slot >= 0
        profit = np.where(real, -reduced[np.maximum(slot, 0)], 0.0)
        # Paying pairs first, so that the steps stop at the longest paying list.
        order = np.argsort(~(profit > 0), axis=1, kind="stable")
        profit = np.take_along_axis(profit, order, axis=1)
        slot = np.take_along_axis(slot, order, axis=1)
        steps = int((profit > 0).sum(axis=1).max())
        weight = np.where(
            profit > 0, np.round(p.pair_usage[0, np.maximum(slot, 0)]).astype(np.int64), top + 1
        )
        agents = np.arange(slot.shape[0])
        cells = np.arange(top + 1)
        table = np.zeros((slot.shape[0], top + 1))
        better = np.zeros((steps, slot.shape[0], top + 1), dtype=bool)
        for k in range(steps):
            source = cells - weight[:, k : k + 1]
            gain = table[agents[:, None], np.maximum(source, 0)] + profit[:, k : k + 1]
            better[k] = (source >= 0) & (gain > table)
            np.copyto(table, gain, where=better[k])
        value = float(table[agents, caps].sum())
        at = caps.copy()
        chosen = np.zeros((slot.shape[0], steps), dtype=bool)
        for k in range(steps - 1, -1, -1):
            chosen[:, k] = better[k, agents, at]
            at = at - np.where(chosen[:, k], weight[:, k], 0)
        return value, slot[:, :steps][chosen]

    def _knapsack(self, a: int, reduced: np.ndarray) -> tuple[float, np.ndarray]:
        """Best profit of agent ``a`` and the pairs taking it.

        The table has one axis per limited resource: the first (points) on a
        grid of ``1 / POINT_GRID``, the others (counts) in whole units, all
        rounded down.
        """
        p = self.p
        pairs = self.by_agent[self.agent_start[a] : self.agent_start[a + 1]]
        pairs = pairs[reduced[pairs] < 0]
        if pairs.size == 0:
            return 0.0, pairs
        profit = -reduced[pairs]
        use = p.pair_usage[:, pairs]
        limit = p.limits[:, a]
        total = use.sum(axis=1)
        if np.all(total <= limit * (1 + 1e-9)):
            return float(profit.sum()), pairs
        counts = [
            (np.floor(use[r] + 1e-9).astype(np.int64), int(min(limit[r], total[r])))
            for r in range(1, use.shape[0])
            if math.isfinite(limit[r]) and total[r] > limit[r]
        ]
        cells = math.prod(cap + 1 for _, cap in counts)
        grid: float = self.grid
        while True:
            pts = np.floor(use[0] * grid + 1e-9).astype(np.int64)
            room = limit[0] * grid if math.isfinite(limit[0]) else math.inf
            q_cap = int(min(math.floor(room + 1e-9), pts.sum()))
            if cells * (q_cap + 1) <= MAX_CELLS or q_cap == 0:
                break
            # Below one, a unit of the table is several points: capacities of
            # thousands of points (minutes, say) would otherwise ask for tables
            # of gigabytes. Rounded down, uses still give a bound.
            grid = grid // 2 if grid > 1 else grid / 2
        dims = [*counts, (pts, q_cap)]
        sizes = np.stack([d for d, _ in dims])  # [axis, pair]
        caps = np.array([c for _, c in dims])
        keep = _undominated(profit, sizes[-1], sizes[:-1], caps[:-1])
        pairs, profit, sizes = pairs[keep], profit[keep], sizes[:, keep]
        top = [int(c) for c in caps]
        needs = sizes.T.tolist()  # Python ints: the loop below is per pair
        gains = profit.tolist()
        table = np.zeros(tuple(c + 1 for c in top))
        layers: list[np.ndarray | None] = []
        for need, value in zip(needs, gains, strict=True):
            if any(n > c for n, c in zip(need, top, strict=True)):
                layers.append(None)
                continue
            lower = tuple(slice(0, c + 1 - n) for c, n in zip(top, need, strict=True))
            upper = tuple(slice(n, None) for n in need)
            gain = table[lower] + value
            target = table[upper]
            better = gain > target
            layers.append(better)
            np.copyto(target, gain, where=better)
        # Walk back through the layers to recover the chosen pairs.
        chosen = []
        at = list(top)
        for k in range(pairs.size - 1, -1, -1):
            better, need = layers[k], needs[k]
            if better is None or any(a < n for a, n in zip(at, need, strict=True)):
                continue
            at_before = [a - n for a, n in zip(at, need, strict=True)]
            if better[tuple(at_before)]:
                chosen.append(pairs[k])
                at = at_before
        return float(table[tuple(top)]), np.array(chosen, dtype=np.int64)

    def pack(
        self, lam: np.ndarray, nu: np.ndarray, deadline: float = math.inf
    ) -> np.ndarray | None:
        """A Lagrangian heuristic: every agent's best knapsack at prices ``(lam, nu)``.

        Each agent takes the items that pay most at these prices within all
        its limits (so the packing is tight where the LP's is); an item taken
        by several agents goes to the one for which it is cheapest. The result
        may leave out items that must be placed and, through the grid's
        rounding, overfill an agent slightly: callers repair it (see
        :func:`caseload.solvers.greedy.make_room`). ``None`` if the deadline
        passes first.
        """
        p = self.p
        lam = np.where(self.must, lam, np.maximum(lam, 0.0))
        reduced = self.base_cost + lam[p.pair_item]
        if self.beta:
            reduced = reduced + nu[p.pair_agent] * self.util
        taken = []
        for a in range(p.num_agents):
            if time.perf_counter() > deadline:
                return None
            taken.append(self._knapsack(a, reduced)[1])
        pairs = np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)
        pairs = pairs[np.lexsort((reduced[pairs], p.pair_item[pairs]))]
        first = np.ones(pairs.size, dtype=bool)
        first[1:] = p.pair_item[pairs[1:]] != p.pair_item[pairs[:-1]]
        out = np.full(p.num_items, UNASSIGNED, dtype=np.int64)
        out[p.pair_item[pairs[first]]] = p.pair_agent[pairs[first]]
        return out

    def evaluate(
        self,
        lam: np.ndarray,
        nu: np.ndarray,
        deadline: float = math.inf,
        stop: Callable[[], bool] = lambda: False,
    ) -> tuple[float, np.ndarray]:
        """The bound for prices ``(lam, nu)``, and how often each item was taken.

        Returns ``-inf`` if the deadline passes or ``stop`` says so before
        every agent is solved (a partial sum is not a bound).
        """
        p = self.p
        lam = np.where(self.must, lam, np.maximum(lam, 0.0))
        reduced = self.base_cost + lam[p.pair_item]
        if self.beta:
            reduced = reduced + nu[p.pair_agent] * self.util
        taken = np.zeros(p.num_items)
        profit = 0.0
        if self.flat is not None:
            if time.perf_counter() > deadline or stop():
                return -math.inf, taken
            profit, pairs = self._all_knapsacks(reduced)
            np.add.at(taken, p.pair_item[pairs], 1)
        else:
            for a in range(p.num_agents):
                if time.perf_counter() > deadline or stop():
                    return -math.inf, taken
                value, pairs = self._knapsack(a, reduced)
                profit += value
                taken[p.pair_item[pairs]] += 1
        value = (
            self.constant - float(lam.sum()) + (self.beta - float(nu.sum())) * p.peak_floor - profit
        )
        self.best = max(self.best, value)
        return value, taken

    def climb(
        self,
        lam: np.ndarray,
        nu: np.ndarray,
        *,
        target: Callable[[], float],
        deadline: float,
        stop: Callable[[], bool] = lambda: False,
    ) -> float:
        """The best bound from prices ``(lam, nu)`` on, by subgradient steps on ``lam``.

        ``target`` gives the best objective known (Polyak's :math:`U`); it may
        fall while the climb runs. The first evaluation is always made, within
        ``deadline`` (a ``perf_counter`` time); the steps follow only if at
        least :data:`CLIMB_MIN_STEPS` more evaluations of the same length fit
        before it. The steps end once converged (:data:`CLIMB_MIN_THETA`), when
        :data:`CLIMB_PATIENCE` of them have not passed the start, at the
        deadline, or when ``stop`` says so (checked between agents too). The
        peak prices ``nu`` stay as given. Returns the best value (``-inf`` if
        not even the first evaluation finished in time).
        """
        began = time.perf_counter()
        value, taken = self.evaluate(lam, nu, deadline)  # the start's value, whatever ``stop`` says
        seconds = time.perf_counter() - began
        if not math.isfinite(value) or deadline - time.perf_counter() < CLIMB_MIN_STEPS * seconds:
            return self.best
        skippable = ~self.must
        lam = np.where(self.must, lam, np.maximum(lam, 0.0))
        theta = 1.0
        first = self.best
        steps = 0
        while theta >= CLIMB_MIN_THETA and not stop():
            if steps >= CLIMB_PATIENCE and self.best <= first:
                break
            steps += 1
            g = taken - 1.0
            # A price held at zero cannot fall: that part of the step is void.
            g[skippable & (lam <= 0.0) & (g < 0.0)] = 0.0
            norm = float(g @ g)
            if norm == 0.0:
                break  # every knapsack choice agrees: nothing to climb
            aim = min(target(), self.best + CLIMB_TARGET_GAP * abs(self.best))
            gap = max(aim - value, 1e-9 * max(1.0, abs(value)))
            lam = lam + theta * gap / norm * g
            lam[skippable] = np.maximum(lam[skippable], 0.0)
            before = self.best
            value, taken = self.evaluate(lam, nu, deadline, stop)
            if not math.isfinite(value):
                break  # out of time, or stopped, mid-evaluation
            if value <= before:
                theta *= 0.9
        return self.best
