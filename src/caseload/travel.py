"""Travel times between localities: shortest paths over the listed roads."""

from __future__ import annotations

import networkx as nx
import numpy as np

from caseload.data import Instance


def travel_matrix(instance: Instance) -> np.ndarray:
    """Minutes between every pair of localities, in ``instance.localities`` order.

    ``t(a, b)`` is the length of the shortest path over the undirected travel
    edges, ``t(a, a)`` is ``internal_minutes`` of ``a`` (a visit inside the
    locality, not a round trip), and ``inf`` marks a pair with no path.
    """
    graph = nx.Graph()
    graph.add_nodes_from(loc.id for loc in instance.localities)
    graph.add_weighted_edges_from((e.source, e.target, e.minutes) for e in instance.travel)
    index = {loc.id: i for i, loc in enumerate(instance.localities)}
    n = len(index)
    minutes = np.full((n, n), np.inf)
    for source, lengths in nx.all_pairs_dijkstra_path_length(graph):
        row = index[source]
        for target, length in lengths.items():
            minutes[row, index[target]] = length
    np.fill_diagonal(minutes, [loc.internal_minutes for loc in instance.localities])
    return minutes
