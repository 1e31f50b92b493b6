r"""Lagrangian lower bound: agents' limits and the peak priced, items chosen whole.

Relaxing every agent limit :math:`\sum_p u_{rp} x_p \le L_{ra}` with prices
:math:`\mu_{ra} \ge 0`, and replacing the peak by a weighted average of the
agents' utilisations (weights :math:`\nu_a \ge 0`, :math:`\sum_a \nu_a \le \beta`,
the rest on the peak floor), leaves one independent choice per item: its
cheapest pair at reduced cost

.. math::

    \bar c_p = c_p - s_i + \sum_r \mu_{r a} u_{r p} + \nu_a \frac{100\, u_{0p}}{K_a}

or leaving it out (cost 0, when allowed). For any such prices

.. math::

    L(\mu, \nu) = \sum_i s_i + \sum_i \min\bigl(0, \min_{p \ni i} \bar c_p\bigr)
    - \sum_{r, a} \mu_{ra} L_{ra} + \Bigl(\beta - \sum_a \nu_a\Bigr) \mathrm{floor}

is a valid lower bound on the optimum, whatever the prices; the subgradient
ascent below only makes it better. Its best value is the LP bound of the
item-level model, where a sibling group is one whole unit. Only numpy is used,
so the bound is computed the same way everywhere and checked by its formula.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from caseload.problem import AssignmentProblem


def _project_capped(nu: np.ndarray, cap: float) -> np.ndarray:
    """Project onto ``{nu >= 0, sum(nu) <= cap}``."""
    nu = np.maximum(nu, 0.0)
    if nu.sum() <= cap:
        return nu
    # Euclidean projection onto the simplex of radius `cap`.
    u = np.sort(nu)[::-1]
    css = np.cumsum(u) - cap
    k = np.arange(1, u.size + 1)
    rho = np.flatnonzero(u - css / k > 0)[-1]
    return np.maximum(nu - css[rho] / (rho + 1), 0.0)


@dataclass(frozen=True, eq=False)
class SkipForm:
    """The objective rewritten around leaving items out, shared by the bounds.

    ``sum_i s_i + sum_p (c_p - s_i) x_p + beta * peak``, where items that must be
    assigned count ``s_i = 0``; ``util`` is a pair's share of its agent's
    utilisation in percent, and ``beta`` is zero when no agent counts.
    """

    must: np.ndarray
    base_cost: np.ndarray
    constant: float
    counted: np.ndarray
    beta: float
    util: np.ndarray

    @classmethod
    def of(cls, p: AssignmentProblem) -> SkipForm:
        must = ~np.isfinite(p.skip_cost)
        skip = np.where(must, 0.0, p.skip_cost)
        counted = p.peak_capacity > 0
        inv = np.where(counted, 100.0 / np.where(counted, p.peak_capacity, 1.0), 0.0)
        return cls(
            must=must,
            base_cost=p.pair_cost - skip[p.pair_item],
            constant=float(skip.sum()),
            counted=counted,
            beta=p.peak_weight if counted.any() else 0.0,
            util=p.pair_usage[0] * inv[p.pair_agent],
        )


class CapacityLagrangian:
    """Evaluates :math:`L(\\mu, \\nu)` and improves the prices by subgradient ascent."""

    def __init__(self, problem: AssignmentProblem) -> None:
        p = problem
        self.p = p
        form = SkipForm.of(p)
        self.must, self.base_cost, self.constant = form.must, form.base_cost, form.constant
        self.counted, self.beta, self.util = form.counted, form.beta, form.util
        self.finite = np.isfinite(p.limits)
        self.limits = np.where(self.finite, p.limits, 0.0)
        start = p.item_start
        self.has_pairs = np.diff(start) > 0
        self.starts = start[:-1][self.has_pairs]
        self.mu = np.zeros_like(self.limits)
        n = int(self.counted.sum())
        self.nu = np.where(self.counted, self.beta / n, 0.0) if n else np.zeros(p.num_agents)
        self.best = -math.inf
        self.best_mu = self.mu.copy()
        self.best_nu = self.nu.copy()

    def reduced(self, mu: np.ndarray, nu: np.ndarray) -> np.ndarray:
        """The reduced cost :math:`\\bar c_p` of every pair at prices ``(mu, nu)``."""
        a = self.p.pair_agent
        reduced = self.base_cost + np.einsum("rp,rp->p", mu[:, a], self.p.pair_usage)
        if self.beta:
            reduced += nu[a] * self.util
        return reduced

    def item_min(self, values: np.ndarray) -> np.ndarray:
        """Each item's least value over its pairs (``inf`` for an item with none)."""
        out = np.full(self.p.num_items, np.inf)
        if self.starts.size:
            out[self.has_pairs] = np.minimum.reduceat(values, self.starts)
        return out

    def evaluate(self, mu: np.ndarray, nu: np.ndarray) -> tuple[float, np.ndarray]:
        """The bound for prices ``(mu, nu)`` and the chosen pair of each item (or -1)."""
        p = self.p
        reduced = self.reduced(mu, nu)
        item_min = self.item_min(reduced)
        value_items = np.where(self.must, item_min, np.minimum(item_min, 0.0))
        if np.isinf(value_items).any():
            return math.inf, np.full(p.num_items, -1)  # an item that must go nowhere
        value = (
            self.constant
            + float(value_items.sum())
            - float((mu * self.limits).sum())
            + (self.beta - float(nu.sum())) * p.peak_floor
        )
        hit = reduced <= item_min[p.pair_item]
        take = hit & (self.must[p.pair_item] | (reduced < 0))
        idx = np.flatnonzero(take)
        first = np.ones(idx.size, dtype=bool)
        first[1:] = p.pair_item[idx[1:]] != p.pair_item[idx[:-1]]
        chosen = np.full(p.num_items, -1)
        chosen[p.pair_item[idx[first]]] = idx[first]
        return value, chosen

    def consider(self, mu: np.ndarray, nu: np.ndarray) -> float:
        """Evaluate given prices (e.g. LP duals), keeping them if they bound better."""
        mu = np.where(self.finite, np.maximum(mu, 0.0), 0.0)
        nu = np.where(self.counted, np.maximum(nu, 0.0), 0.0) if self.beta else np.zeros_like(nu)
        if self.beta:
            nu = _project_capped(nu, self.beta)
        value, _ = self.evaluate(mu, nu)
        if value > self.best:
            self.best, self.best_mu, self.best_nu = value, mu, nu
            self.mu, self.nu = mu.copy(), nu.copy()
        return value

    def ascend(
        self,
        upper: float,
        *,
        seconds: float,
        iterations: int = 100_000,
        patience: int = 50,
        working_pairs: int = 24,
        stop: Callable[[], bool] | None = None,
        give_up: int = 400,
    ) -> float:
        """Subgradient ascent with Polyak steps towards ``upper`` (a known objective).

        A price moves by its limit's violation divided by the limit (the
        peak's by its violation in fractions of 100%), so points, cases and new
        cases move in step; dividing by the square of the limit, as this did
        before, threw the new-case prices (limits of about 3) far past their
        optimum on the first steps of a county. The step length ``theta`` halves after
        ``patience`` steps without a better value; the climb goes on from where
        it is rather than from its best point, since a subgradient step is not
        an ascent step (restarting from the best made it stall at zero prices).
        Ties between equally cheap pairs, common where workers of one locality
        cost the same, are broken by a fixed tiny jitter, so that the
        subgradient spreads the items over interchangeable workers instead of
        loading the first of them.

        Steps are taken on a working set of each item's ``working_pairs``
        cheapest pairs (and its incumbent's); every ``patience`` steps the whole
        problem is evaluated (only those values count as bounds) and pairs
        cheaper than their item's best in the working set join it. Returns the
        best bound found; it is valid whatever happens here. ``stop``, polled
        every step, ends the climb early (a cancelled solve); so does
        ``give_up`` steps without any bound better than the start's.
        """
        deadline = time.perf_counter() + seconds
        work = _WorkingSet(self, working_pairs)
        scale = np.sqrt(np.where(self.finite, np.maximum(self.limits, 1.0), 1.0))
        theta, stall, best_here = 1.0, 0, -math.inf
        mu, nu = self.best_mu.copy(), self.best_nu.copy()
        start_value = self.best
        for step_no in range(iterations):
            if step_no % patience == 0:
                value, _ = self.evaluate(mu, nu)
                if value > self.best:
                    self.best, self.best_mu, self.best_nu = value, mu.copy(), nu.copy()
                if not math.isfinite(value):
                    break
                if step_no >= give_up and self.best <= start_value:
                    break  # not moving at all (a county): leave the time to the search
                if work.grow(mu, nu):
                    best_here = -math.inf  # a larger working set values prices lower
            if theta < 1e-4 or time.perf_counter() > deadline or (stop is not None and stop()):
                break
            value, loads, util = work.step(mu, nu)
            if value > best_here + 1e-9 * max(1.0, abs(value)):
                best_here, stall = value, 0
            else:
                stall += 1
                if stall >= patience:
                    theta, stall = theta / 2, 0
            g_mu = np.where(self.finite, (loads - self.limits) / scale, 0.0)
            g_mu[(mu <= 0) & (g_mu < 0)] = 0.0  # cannot go below zero anyway
            g_nu = np.zeros_like(nu)
            if self.beta:
                g_nu = np.where(self.counted, util - self.p.peak_floor, 0.0) / 100.0
            norm = float((g_mu**2).sum() + (g_nu**2).sum())
            if norm <= 1e-18:
                break  # prices are optimal for this relaxation
            step = theta * max(upper - value, 1e-9 * max(1.0, abs(upper))) / norm
            if not math.isfinite(step):
                break
            mu = np.maximum(mu + step * g_mu / scale, 0.0)
            if self.beta:
                nu = _project_capped(nu + step * g_nu / 100.0, self.beta)
        value, _ = self.evaluate(mu, nu)
        if value > self.best:
            self.best, self.best_mu, self.best_nu = value, mu.copy(), nu.copy()
        return self.best


class _WorkingSet:
    """The pairs the subgradient steps look at: each item's cheapest few, grown on demand.

    On a county (1.5 million pairs) a step over every pair takes tens of
    milliseconds; most pairs are far too dear ever to be an item's cheapest,
    so steps over a few cheap pairs per item are several times faster.
    """

    def __init__(self, lag: CapacityLagrangian, per_item: int) -> None:
        p = lag.p
        start = p.item_start
        order = np.lexsort((p.pair_cost, p.pair_item))
        rank = np.empty(p.num_pairs, dtype=np.int64)
        rank[order] = np.arange(p.num_pairs) - np.repeat(start[:-1], np.diff(start))
        keep = rank < per_item
        if p.incumbent is not None:
            keep |= p.pair_agent == p.incumbent[p.pair_item]
        self.lag = lag
        self.jitter_all = 1.0 + np.random.default_rng(0).random(p.num_pairs) * 1e-7
        self._use(keep)

    def _use(self, keep: np.ndarray) -> None:
        lag, p = self.lag, self.lag.p
        self.keep = keep
        idx = np.flatnonzero(keep)
        self.agent = p.pair_agent[idx]
        self.item = p.pair_item[idx]
        self.usage = p.pair_usage[:, idx]
        self.base = lag.base_cost[idx]
        self.util = lag.util[idx]
        self.jitter = self.jitter_all[idx]
        self.must = lag.must[self.item]
        start = np.searchsorted(self.item, np.arange(p.num_items + 1))
        self.has = np.diff(start) > 0
        self.starts = start[:-1][self.has]

    def _reduced(
        self,
        mu: np.ndarray,
        nu: np.ndarray,
        agent: np.ndarray,
        usage: np.ndarray,
        base: np.ndarray,
        util: np.ndarray,
    ) -> np.ndarray:
        reduced = base + np.einsum("rp,rp->p", mu[:, agent], usage)
        if self.lag.beta:
            reduced += nu[agent] * util
        return reduced

    def _item_min(self, values: np.ndarray) -> np.ndarray:
        """Each item's least value over its pairs in the working set."""
        out = np.full(self.lag.p.num_items, np.inf)
        if self.starts.size:
            out[self.has] = np.minimum.reduceat(values, self.starts)
        return out

    def grow(self, mu: np.ndarray, nu: np.ndarray) -> bool:
        """Add the pairs that undercut their item's best in the working set."""
        lag, p = self.lag, self.lag.p
        if bool(self.keep.all()):
            return False
        inside = self._item_min(self._reduced(mu, nu, self.agent, self.usage, self.base, self.util))
        inside = np.where(lag.must, inside, np.minimum(inside, 0.0))
        every = lag.reduced(mu, nu)
        add = (every < inside[p.pair_item] - 1e-9 * np.maximum(1.0, np.abs(every))) & ~self.keep
        if not add.any():
            return False
        self._use(self.keep | add)
        return True

    def step(self, mu: np.ndarray, nu: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The working set's value at these prices, with the loads and utilisation
        of each item's cheapest pair (ties broken by the jitter)."""
        lag, p = self.lag, self.lag.p
        reduced = self._reduced(mu, nu, self.agent, self.usage, self.base, self.util)
        item_min = self._item_min(reduced)
        value_items = np.where(lag.must, item_min, np.minimum(item_min, 0.0))
        value = (
            lag.constant
            + float(value_items.sum())
            - float((mu * lag.limits).sum())
            + (lag.beta - float(nu.sum())) * p.peak_floor
        )
        jittered = reduced * self.jitter
        jit_min = self._item_min(jittered)
        take = np.flatnonzero((jittered <= jit_min[self.item]) & (self.must | (reduced < 0)))
        agents = self.agent[take]
        loads = np.stack(
            [
                np.bincount(agents, self.usage[r, take], minlength=p.num_agents)
                for r in range(self.usage.shape[0])
            ]
        )
        util = np.bincount(agents, self.util[take], minlength=p.num_agents)
        return value, loads, util
