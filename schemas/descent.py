"""One level of the tree's descent as a compiled kernel (numba): each row's nearest child of its
node, argmin over the node's k children of ‖c‖² − 2 x·c (ties to the lowest child).

Why not BLAS: a level's rows split into one branch per node, so a GEMM per branch needs the
branch's rows gathered first; at 12^4 that is 4 GEMMs of 12 columns plus 3 gathers of 4 KB rows
per clip (~150k clips/s per core). Here every row is scored in place against its own node's
children, six dot products at once (one load of x per six centroid loads, six SIMD
accumulators), and rows are visited grouped by node (`order`) so a node's children stay in
cache for all its rows instead of being fetched again per row (benchmarks/bench_kmeans).
"""

import numpy as np
from numba import njit


@njit(fastmath=True, nogil=True, cache=True)
def nearest_children(x, order, node, centroids, norms, k, child):  # pragma: no cover (compiled)
    """child[i] = node[i] * k + the nearest of node[i]'s children, for i in `order`.

    x (N, D) float32; order (M,) row indices; node, child (N,) int64; centroids (K, D) float32
    and norms (K,) float32 of this level (+inf for missing nodes, never chosen)."""
    dim = x.shape[1]
    for r in range(order.shape[0]):
        i = order[r]
        xi = x[i]
        base = node[i] * k
        best, best_score = 0, np.inf
        j = 0
        while j + 6 <= k:
            c0, c1, c2 = centroids[base + j], centroids[base + j + 1], centroids[base + j + 2]
            c3, c4, c5 = centroids[base + j + 3], centroids[base + j + 4], centroids[base + j + 5]
            s0 = s1 = s2 = s3 = s4 = s5 = np.float32(0.0)
            for t in range(dim):
                v = xi[t]
                s0 += v * c0[t]
                s1 += v * c1[t]
                s2 += v * c2[t]
                s3 += v * c3[t]
                s4 += v * c4[t]
                s5 += v * c5[t]
            dots = (s0, s1, s2, s3, s4, s5)
            for u in range(6):
                score = norms[base + j + u] - 2 * dots[u]
                if score < best_score:
                    best, best_score = j + u, score
            j += 6
        while j < k:
            c0 = centroids[base + j]
            s0 = np.float32(0.0)
            for t in range(dim):
                s0 += xi[t] * c0[t]
            score = norms[base + j] - 2 * s0
            if score < best_score:
                best, best_score = j, score
            j += 1
        child[i] = base + best
