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

import itertools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
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


def _priced(base: np.ndarray, mu: np.ndarray, agent: np.ndarray, usage: np.ndarray) -> np.ndarray:
    """``base + sum_r mu[r, agent] * usage[r]``, one gather per resource.

    Four times faster than gathering ``mu[:, agent]`` whole on a county's pairs.
    """
    out = base.copy()
    for r in range(usage.shape[0]):
        out += mu[r].take(agent) * usage[r]
    return out


def _least(values: np.ndarray, has: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each item's least value over its run of pairs (``inf`` for an item with
    none); ``has`` marks the items with pairs and ``starts`` their runs' starts."""
    out = np.full(has.size, np.inf)
    if starts.size:
        out[has] = np.minimum.reduceat(values, starts)
    return out


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
        # The smoothed ascent's last prices while none has beaten its start.
        self._unbeaten_mu: np.ndarray | None = None

    def reduced(self, mu: np.ndarray, nu: np.ndarray) -> np.ndarray:
        """The reduced cost :math:`\\bar c_p` of every pair at prices ``(mu, nu)``."""
        a = self.p.pair_agent
        reduced = _priced(self.base_cost, mu, a, self.p.pair_usage)
        if self.beta:
            reduced += nu[a] * self.util
        return reduced

    def item_min(self, values: np.ndarray) -> np.ndarray:
        """Each item's least value over its pairs (``inf`` for an item with none)."""
        return _least(values, self.has_pairs, self.starts)

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

    @property
    def guide_mu(self) -> np.ndarray:
        """Capacity prices to steer a search by: the best, unless a smoothed
        ascent has not yet beaten where it started (see :meth:`smooth_ascent`)."""
        return self.best_mu if self._unbeaten_mu is None else self._unbeaten_mu

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
            self._unbeaten_mu = None
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

    def smooth_ascent(
        self,
        *,
        seconds: float,
        stage_steps: int = 200,
        working_pairs: int = 16,
        stop: Callable[[], bool] | None = None,
        threads: int = 1,
        tau: float | None = None,
        light_pairs: int = 0,
        pair_budget: float | None = None,
        grace: float = 0.0,
    ) -> float:
        r"""Prices by maximising a smoothed :math:`L`, cooling it stage by stage.

        Each item's least reduced cost is replaced by its soft minimum

        .. math::

            m_i - \tau \log\Bigl(\sum_{p \ni i} e^{-(\bar c_p - m_i)/\tau}
            + [i \text{ may be left out}]\, e^{m_i/\tau}\Bigr),

        which makes :math:`L` smooth and concave in :math:`\mu` (the peak's
        prices :math:`\nu` stay at zero, leaving its floor in the bound), so
        that a quasi-Newton method (projected L-BFGS, :func:`_ascend_nonneg`)
        moves all prices together. The subgradient steps of :meth:`ascend`
        raise one worker's price at a time and stall where its cases go to an
        equally cheap colleague: on a county they do not move from zero prices
        (173,672) in 20 s, where this reaches 380,000-460,000 in 10 s on one
        thread, and on two 475,000 in 7 s and 501,500 once converged, in about
        16 s (the LP bound is about 510,000).

        :math:`\tau` starts at a fifth of the median value of placing an item
        and falls by 0.3 after each of the first five stages of
        ``stage_steps`` steps; the last smoothing runs until ``seconds`` pass or
        a stage gains less than 0.01% on the one before. The working set (each item's
        ``working_pairs`` cheapest pairs) grows after each stage, and only the
        exact :math:`L` at those points counts as a bound.

        Parameters
        ----------
        seconds
            Wall-clock limit.
        stage_steps
            Quasi-Newton steps per stage of smoothing.
        working_pairs
            Pairs per item in the first working set.
        stop
            Polled every step; true ends the ascent (a cancelled solve).
        threads
            Threads summing over the pairs, each over its own items.
        tau
            The first smoothing, if not from the value of placing an item (a
            problem whose every item must be placed has none).
        light_pairs
            Each item's this many pairs lightest for their agent's first limit
            also join the working set. Where capacity is tight and cheap pairs
            are heavy (a type-E GAP) the cheapest pairs alone cannot hold every
            item, and :math:`L` over them grows without bound.
        pair_budget
            A limit in work rather than seconds, so that one thread repeats
            itself: the pairs summed over (the working set's at each smoothed
            step, every pair at each stage's exact evaluation and growth).
        grace
            Seconds more for the ascent when, ``seconds`` in, no stage has yet
            beaten the bound it started from (zero prices, on a county): such
            prices are no guide to a search.

        Returns
        -------
        float
            The best bound found, from the best prices so far
            (``best_mu``, where the ascent also starts; ``best_nu``).
            ``guide_mu`` are the prices to steer a search by: the best, or
            the last ones while no stage has beaten the start, which carry
            more of the capacities than the start's (zero) prices do.
        """
        began = time.perf_counter()
        deadlines = (began + seconds, began + seconds + grace)
        work = _WorkingSet(self, working_pairs, light_pairs)
        if tau is None:
            placing = -np.minimum(self.item_min(self.base_cost), 0.0)
            placing = placing[~self.must & np.isfinite(placing) & (placing > 0)]
            if placing.size == 0:
                return self.best
            tau = 0.2 * float(np.median(placing))
        if not self.finite.any():
            return self.best
        mu = self.best_mu.copy()
        with ThreadPoolExecutor(max_workers=threads) if threads > 1 else nullcontext() as pool:
            return self._smooth_stages(
                work, mu, tau, stage_steps, deadlines, stop, pool, threads, pair_budget
            )

    def _smooth_stages(
        self,
        work: _WorkingSet,
        mu: np.ndarray,
        tau: float,
        stage_steps: int,
        deadlines: tuple[float, float],
        stop: Callable[[], bool] | None,
        pool: ThreadPoolExecutor | None,
        threads: int,
        pair_budget: float | None,
    ) -> float:
        zero_nu = np.zeros(self.p.num_agents)
        shape = mu.shape
        spent = [0.0]  # pairs summed over

        def halt() -> bool:
            if pair_budget is not None and spent[0] >= pair_budget:
                return True
            return stop is not None and stop()

        previous, start = -math.inf, self.best
        # The later deadline, unless a stage beats the start by the first.
        deadline = deadlines[1]
        for stage in itertools.count():
            runs = work.split(threads)

            def value_and_slope(
                flat: np.ndarray, tau: float = tau, runs: list[_Run] = runs
            ) -> tuple[float, np.ndarray]:
                spent[0] += work.item.size
                return work.smoothed(flat.reshape(shape), tau, runs, pool)

            flat = _ascend_nonneg(
                value_and_slope,
                mu.ravel(),
                steps=stage_steps,
                deadline=deadline,
                stop=halt,
                free=self.finite.ravel(),
                precision=SMOOTHED_PRECISION,
            )
            mu = flat.reshape(shape)
            value, _ = self.evaluate(mu, zero_nu)
            spent[0] += 2 * self.p.num_pairs  # the evaluation, and the growth below
            # Measured against the stage before, not the best: an ascent still
            # below its start's bound (zero prices) is climbing, not converged.
            gain, previous = value - previous, value
            if value > self.best:
                self.best, self.best_mu, self.best_nu = value, mu.copy(), zero_nu
            self._unbeaten_mu = None if self.best > start else mu
            now = time.perf_counter()
            if self.best > start and now <= deadlines[0]:
                deadline = deadlines[0]
            if now > deadline or halt():
                break
            if stage >= 5 and gain < 1e-4 * abs(value):
                break  # converged at the last smoothing: leave the core to the search
            work.grow(mu, zero_nu)
            if stage < 5:
                tau *= 0.3
        return self.best


def _rank_in_item(p: AssignmentProblem, values: np.ndarray) -> np.ndarray:
    """Each pair's place among its item's pairs by ``values``, from 0."""
    start = p.item_start
    order = np.lexsort((values, p.pair_item))
    rank = np.empty(p.num_pairs, dtype=np.int64)
    rank[order] = np.arange(p.num_pairs) - np.repeat(start[:-1], np.diff(start))
    return rank


@dataclass(frozen=True, eq=False)
class _Run:
    """A run of a working set's items, summed on one thread: its first and
    last item (exclusive), its pair positions, its items counted from its
    first, which of them have pairs and where their pairs start; and its
    pairs in agent order (``order``, undone by ``inverse``) with the agents
    ``present``, each one's pair count and first position, and the usage
    in that order."""

    first: int
    last: int
    pairs: slice
    item: np.ndarray
    has: np.ndarray
    starts: np.ndarray
    order: np.ndarray
    inverse: np.ndarray
    present: np.ndarray
    counts: np.ndarray
    agent_starts: np.ndarray
    usage: np.ndarray


class _WorkingSet:
    """The pairs the ascents look at: each item's cheapest few, grown on demand.

    On a county (1.5 million pairs) a step over every pair takes tens of
    milliseconds; most pairs are far too dear ever to be an item's cheapest,
    so steps over a few cheap pairs per item are several times faster.
    """

    def __init__(self, lag: CapacityLagrangian, per_item: int, light: int = 0) -> None:
        p = lag.p
        keep = (_rank_in_item(p, p.pair_cost) < per_item) | p.incumbent_pairs
        if light:
            limit = np.where(lag.finite[0], np.maximum(lag.limits[0], 1.0), np.inf)
            keep |= _rank_in_item(p, p.pair_usage[0] / limit[p.pair_agent]) < light
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
        self.item_start = np.searchsorted(self.item, np.arange(p.num_items + 1))
        self.has = np.diff(self.item_start) > 0
        self.starts = self.item_start[:-1][self.has]
        # The smoothed steps work in single precision, in place (county-1's
        # first working set: 8.6 -> 7.6 ms a step on one thread). Costs are
        # measured from each item's cheapest, which keeps the differences that
        # set the weights exact where the costs themselves are near a million
        # (a statutory case's, less its skip cost).
        self.shift = np.where(self.has, self._item_min(self.base), 0.0)
        self.base32 = (self.base - self.shift[self.item]).astype(np.float32)
        self.usage32 = self.usage.astype(np.float32)

    def _reduced(
        self,
        mu: np.ndarray,
        nu: np.ndarray,
        agent: np.ndarray,
        usage: np.ndarray,
        base: np.ndarray,
        util: np.ndarray,
    ) -> np.ndarray:
        reduced = _priced(base, mu, agent, usage)
        if self.lag.beta:
            reduced += nu[agent] * util
        return reduced

    def _item_min(self, values: np.ndarray) -> np.ndarray:
        """Each item's least value over its pairs in the working set."""
        return _least(values, self.has, self.starts)

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

    def split(self, parts: int) -> list[_Run]:
        """The working set cut at item boundaries into ``parts`` runs of about
        equal size (see :class:`_Run`)."""
        p = self.lag.p
        start = self.item_start
        cuts = np.searchsorted(start, np.linspace(0, self.item.size, parts + 1)[1:-1])
        bounds = [0, *sorted(set(cuts.tolist()) - {0, p.num_items}), p.num_items]
        runs = []
        for first, last in itertools.pairwise(bounds):
            pairs = slice(int(start[first]), int(start[last]))
            item_start = start[first : last + 1] - start[first]
            has = np.diff(item_start) > 0
            agent = self.agent[pairs]
            order = np.argsort(agent, kind="stable")
            inverse = np.empty_like(order)
            inverse[order] = np.arange(order.size)
            counts = np.bincount(agent, minlength=p.num_agents)
            present = counts > 0
            counts = counts[present]
            runs.append(
                _Run(
                    first=first,
                    last=last,
                    pairs=pairs,
                    item=self.item[pairs] - first,
                    has=has,
                    starts=item_start[:-1][has],
                    order=order,
                    inverse=inverse,
                    present=present,
                    counts=counts,
                    agent_starts=np.cumsum(counts) - counts,
                    usage=np.ascontiguousarray(self.usage32[:, pairs][:, order]),
                )
            )
        return runs

    def smoothed(
        self,
        mu: np.ndarray,
        tau: float,
        runs: list[_Run],
        pool: ThreadPoolExecutor | None = None,
    ) -> tuple[float, np.ndarray]:
        """The working set's smoothed :math:`L` at prices ``mu`` (peak prices zero)
        and its gradient: each agent's expected use of each limit, less the limit.

        The items of ``runs`` (see :meth:`split`) are summed independently,
        on ``pool``'s threads if given. Prices are spread and uses summed in
        agent order and item sums taken over runs (``reduceat``), which release
        the GIL where ``bincount`` holds it. On county-1's working set of
        610,000 pairs, interleaved four times, a step with a gather and a
        ``bincount`` per limit took 32.6-38.1 ms on one thread and 17.4-20.4 ms
        on two; so, 18.2-30.3 and 12.7-16.7 ms.
        """
        lag, p = self.lag, self.lag.p
        mu32 = mu.astype(np.float32)
        inv_tau = np.float32(1.0 / tau)

        def run(part: _Run) -> tuple[float, np.ndarray]:
            first, last, usage = part.first, part.last, part.usage
            # Reduced costs less the item's shift: the prices' part summed in
            # agent order, then put in item order once. The later steps work in
            # these two arrays (each megabytes on a county) rather than new ones.
            priced = np.repeat(mu32[0, part.present], part.counts) * usage[0]
            for r in range(1, usage.shape[0]):
                priced += np.repeat(mu32[r, part.present], part.counts) * usage[r]
            reduced = np.take(priced, part.inverse)
            reduced += self.base32[part.pairs]
            shift = self.shift[first:last]
            least = _least(reduced, part.has, part.starts) + shift
            must = lag.must[first:last]
            least = np.where(must, least, np.minimum(least, 0.0))
            if not np.isfinite(least).all():
                return -math.inf, np.zeros_like(mu)
            # weight = exp((least - reduced) / tau), over the reduced array.
            floor = (least - shift).astype(np.float32)
            weight = np.subtract(floor[part.item], reduced, out=reduced)
            weight *= inv_tau
            np.exp(weight, out=weight)
            total = np.zeros(last - first)
            if part.starts.size:
                total[part.has] = np.add.reduceat(weight, part.starts, dtype=np.float64)
            total += np.where(must, 0.0, np.exp(np.minimum(least, 0.0) / tau))
            share = np.divide(weight, total.astype(np.float32)[part.item], out=weight)
            share = np.take(share, part.order, out=priced)
            slope = np.zeros_like(mu)
            if share.size:
                for r in range(usage.shape[0]):
                    slope[r, part.present] = np.add.reduceat(
                        share * usage[r],
                        part.agent_starts,
                        dtype=np.float64,
                    )
            return float((least - tau * np.log(total)).sum()), slope

        answers = list(pool.map(run, runs)) if pool is not None else [run(r) for r in runs]
        value = (
            lag.constant
            + sum(v for v, _ in answers)
            - float((mu * lag.limits).sum())
            + lag.beta * p.peak_floor
        )
        slope = sum((g for _, g in answers), start=np.zeros_like(mu))
        return value, np.where(lag.finite, slope - lag.limits, 0.0).ravel()

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


#: Relative precision of the smoothed values, which sum single-precision
#: terms (see ``_WorkingSet.smoothed``): on a 10 x 100 GAP they scatter by
#: 2e-8 of the value once converged, and a line search below that halved its
#: step thirty times, an evaluation each, before giving up.
SMOOTHED_PRECISION = 1e-7


def _ascend_nonneg(
    value_and_slope: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x: np.ndarray,
    *,
    steps: int,
    deadline: float,
    stop: Callable[[], bool] | None = None,
    free: np.ndarray | None = None,
    memory: int = 8,
    precision: float = 0.0,
) -> np.ndarray:
    """Maximise a smooth concave function over ``x >= 0`` by projected L-BFGS.

    The quasi-Newton direction is taken over the prices that may move (above
    zero, or at zero and pushed up); a step is cut in half until it gains at
    least a small share of what its slope promised (Armijo). Entries outside
    ``free`` stay where they are; a step promising less than ``precision``
    times the value ends the climb. Returns the last point.
    """
    fixed = np.zeros(x.size, dtype=bool) if free is None else ~free
    value, slope = value_and_slope(x)
    if not math.isfinite(value):
        return x
    history: list[tuple[np.ndarray, np.ndarray]] = []
    for _ in range(steps):
        if time.perf_counter() > deadline or (stop is not None and stop()):
            break
        moving = ((x > 0) | (slope > 0)) & ~fixed
        q = np.where(moving, -slope, 0.0)
        coefficients = []
        for s, y in reversed(history):
            rho = 1.0 / float(y @ s)
            a = rho * float(s @ q)
            coefficients.append((a, rho, s, y))
            q -= a * y
        if history:
            s, y = history[-1]
            q *= float(s @ y) / float(y @ y)
        else:
            q /= max(float(np.abs(q).max()), 1e-12)
        for a, rho, s, y in reversed(coefficients):
            q += (a - rho * float(y @ q)) * s
        direction = np.where(moving, -q, 0.0)
        if float(slope @ direction) <= 0:
            # Not uphill (the curvature pairs disagree with the bounds): restart.
            history.clear()
            direction = np.where(moving, slope, 0.0) / max(float(np.abs(slope).max()), 1e-12)
        length = 1.0
        for _ in range(30):
            trial = np.maximum(x + length * direction, 0.0)
            promised = float(slope @ (trial - x))
            if promised <= precision * max(1.0, abs(value)):
                return x  # what is left to gain is below what the values resolve
            trial_value, trial_slope = value_and_slope(trial)
            if trial_value >= value + 1e-4 * promised:
                break
            length *= 0.5
        else:
            break  # no gain along this direction at any length
        s, y = trial - x, slope - trial_slope
        if float(s @ y) > 1e-12 * max(float(y @ y), 1e-300):
            history.append((s, y))
            if len(history) > memory:
                history.pop(0)
        x, value, slope = trial, trial_value, trial_slope
    return x
