"""Seeded synthetic authorities, from the published figures in ``docs/domain.md`` §8.

Sizes: ``small`` (3 localities, ~40 workers, ~650 cases), ``medium`` (a city like
Sunderland: five localities, ~150 workers, ~2,600 cases), ``large`` (10
localities, ~250 workers, ~3,000 cases) and ``county`` (16 localities, ~1,000
workers, ~15,000 cases). Every instance is valid by construction (its pinned
cases fit), every statutory case can be placed in principle, and demand runs
a little above capacity, as in an overloaded service. Ids carry no personal
data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SIZES = ("small", "medium", "large", "county")


@dataclass(frozen=True)
class _Size:
    localities: tuple[str, ...]
    workers: int
    cases: int
    reach: float  # share of other localities a worker will travel to, on average


_CITY = ("coalfield", "washington", "north", "east", "west")
_SPECS = {
    "small": _Size(("north", "central", "south"), 40, 650, 0.30),
    "medium": _Size(_CITY, 150, 2600, 0.08),
    "large": _Size(tuple(f"area{k:02d}" for k in range(1, 11)), 250, 3000, 0.12),
    "county": _Size(tuple(f"district{k:02d}" for k in range(1, 17)), 1000, 15000, 0.01),
}

# case type: (points, visits per month, statutory, share of cases, required skill)
_TYPES: dict[str, tuple[float, float, bool, float, str | None]] = {
    "assessment": (5, 1.0, False, 0.18, None),
    "s47": (7, 2.0, True, 0.04, "cp"),
    "cin_plan": (4, 1.1, False, 0.25, None),
    "cp_plan": (7, 2.2, True, 0.15, "cp"),
    "cla": (6, 0.7, True, 0.225, None),
    "uasc": (5, 0.7, True, 0.025, "uasc"),
    "care_leaver": (3, 0.5, False, 0.05, None),
    "disabled_child": (5, 0.7, False, 0.06, "cwd"),
    "private_fostering": (4, 0.7, True, 0.005, None),
}
_SKILLS = {"cp": 0.70, "court": 0.50, "cwd": 0.10, "uasc": 0.08, "cse": 0.20}


def generate_authority(size: str = "medium", seed: int = 0) -> dict[str, Any]:
    """A synthetic authority as a ``caseload-instance/1`` dict.

    Parameters
    ----------
    size
        One of :data:`SIZES`.
    seed
        The same ``(size, seed)`` always gives the same instance.

    Raises
    ------
    ValueError
        For an unknown size.
    """
    if size not in _SPECS:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    spec = _SPECS[size]
    rng = np.random.default_rng([seed, SIZES.index(size)])
    locs = list(spec.localities)
    n_loc = len(locs)

    # Localities on a map; roads to the nearest neighbours (5-35 minutes), and one or
    # two out-of-area placement localities an hour or two away.
    xy = rng.uniform(0, 1, size=(n_loc, 2))
    dist = np.linalg.norm(xy[:, None] - xy[None, :], axis=2)
    scale = 30.0 / max(float(dist.max()), 1e-9)
    travel: dict[tuple[int, int], int] = {}
    order = np.argsort(dist, axis=1)
    for i in range(n_loc):
        for j in order[i, 1 : 1 + min(3, n_loc - 1)].tolist():
            key = (min(i, j), max(i, j))
            travel[key] = int(np.clip(round(5 + dist[i, j] * scale), 5, 35))
    _connect(travel, dist, scale, n_loc)
    n_out = 1 if n_loc <= 5 else 2
    out_ids = [f"out_of_area_{k + 1}" for k in range(n_out)]
    localities = [{"id": loc, "internal_minutes": int(rng.integers(5, 16))} for loc in locs]
    localities += [{"id": o, "internal_minutes": 0} for o in out_ids]
    edges = [{"from": locs[a], "to": locs[b], "minutes": m} for (a, b), m in sorted(travel.items())]
    for o in out_ids:
        for a in rng.choice(n_loc, size=min(2, n_loc), replace=False).tolist():
            edges.append({"from": locs[a], "to": o, "minutes": int(rng.integers(60, 121))})

    case_types = [
        {"id": t, "points": pts, "visits_per_month": v, "must_allocate": stat}
        for t, (pts, v, stat, _, _) in _TYPES.items()
    ]

    # Shortest paths between the city's localities, for travel limits and pre-allocation.
    minutes = np.full((n_loc, n_loc), np.inf)
    np.fill_diagonal(minutes, [loc["internal_minutes"] for loc in localities[:n_loc]])
    for (a, b), m in travel.items():
        minutes[a, b] = minutes[b, a] = min(minutes[a, b], m)
    for k in range(n_loc):  # Floyd-Warshall on a handful of nodes
        minutes = np.minimum(minutes, minutes[:, k, None] + minutes[None, k, :])
    np.fill_diagonal(minutes, [loc["internal_minutes"] for loc in localities[:n_loc]])

    workers, w_skills, w_cap, w_max, w_excl = _workers(spec, locs, minutes, rng)
    cases = _cases(spec, locs, out_ids, rng)
    everywhere = _shortest_paths(localities, edges)
    _pre_allocate(cases, workers, w_skills, w_cap, w_max, w_excl, everywhere, localities, rng)

    return {
        "format": "caseload-instance/1",
        "name": f"{size}-{seed}",
        "localities": localities,
        "travel": edges,
        "case_types": case_types,
        "workers": workers,
        "cases": cases,
        "weights": {
            "statutory": 1_000_000,
            "unallocated": 1000,
            "continuity": 200,
            "travel": 1,
            "balance": 50,
        },
        "x_generator": {"size": size, "seed": seed},
    }


def _shortest_paths(localities: list[dict[str, Any]], edges: list[dict[str, Any]]) -> np.ndarray:
    """Minutes between all localities (Floyd-Warshall; a handful of nodes)."""
    index = {loc["id"]: i for i, loc in enumerate(localities)}
    n = len(localities)
    t = np.full((n, n), np.inf)
    np.fill_diagonal(t, 0.0)
    for e in edges:
        a, b = index[e["from"]], index[e["to"]]
        t[a, b] = t[b, a] = min(t[a, b], e["minutes"])
    for k in range(n):
        t = np.minimum(t, t[:, k, None] + t[None, k, :])
    np.fill_diagonal(t, [loc.get("internal_minutes", 0) for loc in localities])
    return t


def _connect(travel: dict[tuple[int, int], int], dist: np.ndarray, scale: float, n: int) -> None:
    """Add the shortest missing roads until every locality is reachable."""
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in travel:
        parent[find(a)] = find(b)
    pairs = sorted((float(dist[a, b]), a, b) for a in range(n) for b in range(a + 1, n))
    for d, a, b in pairs:
        if find(a) != find(b):
            parent[find(a)] = find(b)
            travel[(a, b)] = int(np.clip(round(5 + d * scale), 5, 35))


def _workers(
    spec: _Size, locs: list[str], minutes: np.ndarray, rng: np.random.Generator
) -> tuple[list[dict[str, Any]], list[set[str]], np.ndarray, np.ndarray, list[set[str]]]:
    n = spec.workers
    n_loc = len(locs)
    base = rng.integers(0, n_loc, size=n)
    role = rng.choice(["sw", "asye", "senior_practitioner"], size=n, p=[0.75, 0.15, 0.10])
    part_time = rng.random(n) < 0.15
    fte = np.where(part_time, rng.choice([0.5, 0.6, 0.8], size=n), 1.0)
    factor = np.select([role == "asye", role == "senior_practitioner"], [75 / 85, 0.8], 1.0)
    capacity = np.round(85 * fte * factor, 1)
    max_cases = np.floor(np.where(role == "asye", 12, 18) * fte + 0.5).astype(int)
    agency = rng.random(n) < 0.15
    # How far each worker will travel: enough to reach the share of other
    # localities the size calls for, on average.
    others = np.sort(np.where(np.eye(n_loc, dtype=bool), np.inf, minutes), axis=1)
    reach = np.zeros(n)
    seniors = np.flatnonzero(role != "asye")
    cla_team = set(
        rng.choice(seniors, size=min(seniors.size, max(2, n // 20)), replace=False).tolist()
    )
    skills: list[set[str]] = []
    records = []
    counters: dict[str, int] = {}
    for w in range(n):
        b = int(base[w])
        k = int(rng.binomial(n_loc - 1, spec.reach)) if n_loc > 1 else 0
        limit = float(others[b, k - 1]) if k > 0 else float(minutes[b, b])
        reach[w] = max(limit, float(minutes[b, b])) + 1
        has = {s for s, share in _SKILLS.items() if rng.random() < share}
        if role[w] == "asye":
            has -= {"cp", "court"}
        if role[w] == "senior_practitioner":
            has |= {"cp", "court"}
        skills.append(has)
        counters[locs[b]] = counters.get(locs[b], 0) + 1
        rec: dict[str, Any] = {
            "id": f"sw-{locs[b]}-{counters[locs[b]]:03d}",
            "base": locs[b],
            "capacity": float(capacity[w]),
            "max_cases": int(max_cases[w]),
            "skills": sorted(has),
            "role": str(role[w]),
            "fte": float(fte[w]),
        }
        # Most workers keep to their patch; a looked-after children's team
        # (one in twenty) visits placements out of area too.
        if w in cla_team:
            rec["excluded_case_types"] = sorted(set(_TYPES) - {"cla", "uasc", "care_leaver"})
            rec["max_travel_minutes"] = 130.0
            rec["skills"] = sorted(has | {"court", "uasc", "cse"})
        else:
            rec["max_travel_minutes"] = float(reach[w])
        if role[w] == "asye":
            rec["excluded_case_types"] = ["cp_plan", "s47"]
        if rng.random() < 0.85:
            # At most three new cases a run (domain §6), four for a full-time,
            # qualified worker so that a new family of four can be taken whole.
            rec["max_new_cases"] = 4 if fte[w] == 1.0 and role[w] != "asye" else 3
        if agency[w]:
            rec["x_agency"] = True
        records.append(rec)
    excluded = [set(r.get("excluded_case_types", ())) for r in records]
    return records, skills, capacity, max_cases, excluded


def _cases(
    spec: _Size, locs: list[str], out_ids: list[str], rng: np.random.Generator
) -> list[dict[str, Any]]:
    n = spec.cases
    n_loc = len(locs)
    names = list(_TYPES)
    shares = np.array([_TYPES[t][3] for t in names])
    # Sibling groups: 40% of children are in groups of 2-4 sharing type and home.
    sizes: list[int] = []
    in_groups = 0
    while in_groups < 0.4 * n:
        s = int(rng.integers(2, 5))
        sizes.append(s)
        in_groups += s
    sizes += [1] * max(0, n - in_groups)
    rng.shuffle(sizes)
    loc_weight = rng.uniform(0.7, 1.3, size=n_loc)
    loc_weight /= loc_weight.sum()
    cases: list[dict[str, Any]] = []
    group_no = 0
    for size in sizes:
        ctype = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        pts, _, _, _, skill = _TYPES[ctype]
        home = locs[int(rng.choice(n_loc, p=loc_weight))]
        if ctype in ("cla", "uasc"):
            u = rng.random()
            if u < 0.10:
                home = out_ids[int(rng.integers(len(out_ids)))]
            elif u < 0.40 and n_loc > 1:
                home = locs[int(rng.integers(n_loc))]
        priority = int(rng.choice([5, 3, 1], p=[0.2, 0.4, 0.4]))
        complexity = float(rng.choice([0.8, 1.0, 1.4], p=[0.3, 0.5, 0.2]))
        extra = 0.0
        needs = {skill} if skill else set()
        if ctype in ("cp_plan", "cla"):
            u = rng.random()
            if u < 0.08:
                extra, needs = 4.0, needs | {"court"}
            elif u < 0.13:
                extra = 2.0
        if rng.random() < 0.05:
            needs.add("cse")
        group = None
        if size > 1:
            group_no += 1
            group = f"fam{group_no:05d}"
        for k in range(size):
            points = round((pts * complexity + extra) * (0.5 if k > 0 else 1.0), 1)
            rec: dict[str, Any] = {
                "id": f"c{len(cases) + 1:06d}",
                "type": ctype,
                "location": home,
                "priority": priority,
            }
            if points != pts:
                rec["points"] = points
            if needs:
                rec["skills"] = sorted(needs)
            if group:
                rec["group"] = group
            cases.append(rec)
    return cases[:n] if len(cases) > n else cases


def _pre_allocate(
    cases: list[dict[str, Any]],
    workers: list[dict[str, Any]],
    skills: list[set[str]],
    capacity: np.ndarray,
    max_cases: np.ndarray,
    excluded: list[set[str]],
    minutes: np.ndarray,
    localities: list[dict[str, Any]],
    rng: np.random.Generator,
) -> None:
    """Give 85% of families a current worker, pin a few, add leavers and conflicts.

    The current allocation is what managers would have made: an eligible
    worker, preferably based where the family lives, with the most room give
    or take, so caseloads sit near capacity and a few a little over.
    """
    loc_index = {loc["id"]: i for i, loc in enumerate(localities)}
    n = len(workers)
    base = np.array([loc_index[w["base"]] for w in workers])
    limit = np.array([w.get("max_travel_minutes", np.inf) for w in workers])
    names = sorted({s for has in skills for s in has} | {"cp", "court", "cwd", "uasc", "cse"})
    bit = {s: 1 << k for k, s in enumerate(names)}
    has_mask = np.array([sum(bit[s] for s in has) for has in skills], dtype=np.int64)
    held = np.zeros(n)
    pinned_load = np.zeros(n)
    pinned_count = np.zeros(n, dtype=int)
    families: dict[str, list[dict[str, Any]]] = {}
    for c in cases:
        families.setdefault(c.get("group") or c["id"], []).append(c)
    leaver = 0
    for members in families.values():
        if rng.random() >= 0.85:
            continue  # a new referral
        first = members[0]
        if rng.random() < 0.03:
            leaver += 1
            for c in members:
                c["current_worker"] = f"sw-left-{leaver:04d}"
            continue
        home = loc_index[first["location"]]
        need = sum(bit[s] for s in set().union(*(set(c.get("skills", ())) for c in members)))
        points = [_points(c) for c in members]
        t = minutes[base, home]
        ok = (
            ((has_mask & need) == need)
            & (t <= limit)
            & np.array([first["type"] not in ex for ex in excluded])
            & (capacity >= max(points))
        )
        options = np.flatnonzero(ok)
        if options.size == 0:
            continue
        room = 1.05 * capacity[options] - held[options] + rng.normal(0, 6, options.size)
        room += np.where(base[options] == home, 15.0, 0.0)
        w = int(options[np.argmax(room)])
        held[w] += sum(points)
        for c in members:
            c["current_worker"] = workers[w]["id"]
        # Pin a few, where the pinned work stays well within the worker's limits.
        if (
            rng.random() < 0.03
            and pinned_load[w] + sum(points) <= 0.5 * capacity[w]
            and pinned_count[w] + len(members) <= max_cases[w] // 2
        ):
            pinned_load[w] += sum(points)
            pinned_count[w] += len(members)
            first["pinned"] = True
    # Conflicts of interest: a few cases exclude one or two workers.
    for c in cases:
        if rng.random() < 0.01:
            picks = rng.choice(n, size=int(rng.integers(1, 3)), replace=False)
            excluded_ids = sorted(
                {workers[int(w)]["id"] for w in picks} - {c.get("current_worker")}
            )
            if excluded_ids and not c.get("pinned"):
                c["excluded_workers"] = excluded_ids


def _points(case: dict[str, Any]) -> float:
    if "points" in case:
        return float(case["points"])
    return float(_TYPES[case["type"]][0])


def new_referrals(instance: Any, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` new referrals for a generated authority, as case records.

    They follow the authority's case mix (types, priorities, sibling groups,
    skills) and have no current worker; ids are ``r<seed>-000001``… and group
    ids ``rfam<seed>-00001``…, so they never clash with existing ones.

    Parameters
    ----------
    instance
        A ``caseload-instance/1`` dict made by :func:`generate_authority`, or
        the :class:`~caseload.data.Instance` read from one.
    count
        How many cases (sibling groups count one per child).
    seed
        The same seed gives the same referrals.
    """
    if not isinstance(instance, dict):
        instance = instance.to_dict()
    size = instance.get("x_generator", {}).get("size", "medium")
    spec = _SPECS.get(size, _SPECS["medium"])
    out_ids = [x["id"] for x in instance["localities"] if x["id"].startswith("out_of_area")]
    locs = tuple(x["id"] for x in instance["localities"] if x["id"] not in out_ids)
    rng = np.random.default_rng([seed, 7919])
    fresh = _cases(
        _Size(locs, spec.workers, count, spec.reach), list(locs), out_ids or list(locs), rng
    )
    for c in fresh:
        c["id"] = f"r{seed}-{c['id'][1:]}"
        if "group" in c:
            c["group"] = f"rfam{seed}-{c['group'][3:]}"
    return fresh
