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

    def evaluate(self, mu: np.ndarray, nu: np.ndarray) -> tuple[float, np.ndarray]:
        """The bound for prices ``(mu, nu)`` and the chosen pair of each item (or -1)."""
        p = self.p
        a = p.pair_agent
        reduced = self.base_cost + np.einsum("rp,rp->p", mu[:, a], p.pair_usage)
        if self.beta:
            reduced += nu[a] * self.util
        item_min = np.full(p.num_items, np.inf)
        if self.starts.size:
            item_min[self.has_pairs] = np.minimum.reduceat(reduced, self.starts)
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

    def ascend(self, upper: float, *, seconds: float, iterations: int = 100_000) -> float:
        """Subgradient ascent with Polyak steps towards ``upper`` (a known objective).

        Each limit's violation is measured relative to the limit itself (and
        the peak in fractions of 100%), so points, cases and new cases pull
        with comparable force. Returns the best bound found; it is valid
        whatever happens here.
        """
        p = self.p
        deadline = time.perf_counter() + seconds
        scale = np.where(self.finite, np.maximum(self.limits, 1.0), 1.0)
        theta, stall = 1.0, 0
        mu, nu = self.best_mu.copy(), self.best_nu.copy()
        for _ in range(iterations):
            value, chosen = self.evaluate(mu, nu)
            if value > self.best + 1e-9 * max(1.0, abs(value)):
                self.best, self.best_mu, self.best_nu = value, mu.copy(), nu.copy()
                stall = 0
            else:
                stall += 1
                if stall >= 10:
                    theta, stall = theta / 2, 0
                    mu, nu = self.best_mu.copy(), self.best_nu.copy()
            if not math.isfinite(value) or theta < 1e-4 or time.perf_counter() > deadline:
                break
            pairs = chosen[chosen >= 0]
            g_mu = np.where(self.finite, (p.loads(pairs) - self.limits) / scale, 0.0)
            g_mu[(mu <= 0) & (g_mu < 0)] = 0.0  # cannot go below zero anyway
            g_nu = np.zeros_like(nu)
            if self.beta:
                util = np.zeros(p.num_agents)
                np.add.at(util, p.pair_agent[pairs], self.util[pairs])
                g_nu = np.where(self.counted, util - p.peak_floor, 0.0) / 100.0
            norm = float((g_mu**2).sum() + (g_nu**2).sum())
            if norm <= 1e-18:
                break  # prices are optimal for this relaxation
            step = theta * max(upper - value, 1e-9 * max(1.0, abs(upper))) / norm
            mu = np.maximum(mu + step * g_mu / scale, 0.0)
            if self.beta:
                nu = _project_capped(nu + step * g_nu / 100.0, self.beta)
        return self.best
