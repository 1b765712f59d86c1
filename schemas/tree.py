"""The centroid tree: the hierarchical k-means vocabulary as arrays, its Parquet codec
(`schemas.CENTROIDS`) and the descent that maps a feature to its leaf (visual word).

Beam-free and faiss-free, so the stages (`kmeans` fits it, `tokens` assigns with it), the
pipelines (inspect, report) and `model/` (visual embeddings from the leaf centroids) share it.
"""

import functools
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from schemas import CENTROIDS
from schemas.descent import nearest_children

ASSIGN_BLOCK = 16_384
"""Rows per descent in `CentroidTree.assign`: bounded memory whatever N, and enough rows per
node at the deepest level (~10 at 12^4) that a node's children are reused from cache."""
_META = ("k", "depth", "dim", "seed", "n_train", "niter")  # CENTROIDS schema metadata keys


@dataclass(frozen=True, eq=False)
class CentroidTree:
    """A fitted tree: dense per-level arrays indexed by node id (plain numpy, so it pickles)."""

    k: int
    centroids: tuple[np.ndarray, ...]
    """Level l = 1..depth at index l-1: (k**l, D) float32, zero rows for missing nodes."""
    counts: tuple[np.ndarray, ...]
    """Level l at index l-1: (k**l,) int64 training points per node; 0 iff the node is missing."""
    seed: int = 0
    niter: int = 0
    n_train: int = 0
    fitted: tuple[np.ndarray, ...] | None = None
    """Level l at index l-1: (k**l,) int64 points of the branch whose k-means fitted the node
    (its parent's points after faiss's subsampling; shared by siblings), 0 for missing nodes.
    None: the parent's count (no subsampling known; what trees written before it was recorded
    read back as)."""

    def __post_init__(self):
        if self.fitted is None:
            object.__setattr__(self, "fitted", self._parent_counts())
        for level in range(1, self.depth):
            parent_exists = self.counts[level - 1] > 0
            has_child = np.zeros_like(parent_exists)
            has_child[np.flatnonzero(self.counts[level]) // self.k] = True
            if not np.array_equal(parent_exists, has_child):
                raise ValueError(f"level {level}: existing nodes and nodes with children differ")

    def _parent_counts(self) -> tuple[np.ndarray, ...]:
        parents = [np.full(self.k, int(self.counts[0].sum()), np.int64)]
        parents += [np.repeat(c, self.k) for c in self.counts[:-1]]
        return tuple(np.where(c > 0, p, 0) for p, c in zip(parents, self.counts, strict=True))

    def occupancy(self) -> dict:
        """Leaf occupancy and points per node of the fit: what inspect and the report show."""
        leaves = self.counts[-1][: self.k**self.depth]
        present = leaves[leaves > 0]
        per_level = []
        for level, (count, fit) in enumerate(zip(self.counts, self.fitted, strict=True), 1):
            exists = count > 0
            per_centroid = fit[exists] / self.k
            per_level.append({
                "level": level,
                "nodes": int(exists.sum()),
                "of": self.k**level,
                "min_points_per_centroid": round(float(per_centroid.min()), 1),
                "median_points_per_centroid": round(float(np.median(per_centroid)), 1),
            })  # fmt: skip
        return {
            "n_train": self.n_train,
            "leaves": self.k**self.depth,
            "empty_leaves": int((leaves == 0).sum()),
            "leaf_points_min": int(present.min()) if len(present) else 0,
            "leaf_points_median": float(np.median(present)) if len(present) else 0.0,
            "leaf_points_max": int(present.max()) if len(present) else 0,
            "levels": per_level,
        }

    @property
    def depth(self) -> int:
        return len(self.centroids)

    @property
    def dim(self) -> int:
        return self.centroids[0].shape[1]

    @functools.cached_property
    def _descent_levels(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """Per level, what the descent kernel reads: the centroids (contiguous float32) and their
        squared norms, +inf for missing nodes (never chosen). Computed once per tree."""
        return tuple(
            (
                np.ascontiguousarray(c, dtype=np.float32),
                np.where(n > 0, _sq_norms(c), np.inf).astype(np.float32),
            )
            for c, n in zip(self.centroids, self.counts, strict=True)
        )

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Leaf id of each row of x (N, D): descend level by level, k distances per level, in
        blocks of `ASSIGN_BLOCK` rows (bounded memory whatever N)."""
        leaves = np.empty(len(x), np.int32)
        for lo in range(0, len(x), ASSIGN_BLOCK):
            block = np.ascontiguousarray(x[lo : lo + ASSIGN_BLOCK], dtype=np.float32)
            leaves[lo : lo + len(block)] = self._descend(block)
        return leaves

    def _descend(self, x: np.ndarray) -> np.ndarray:
        """Level by level, the rows visited grouped by node (schemas.descent)."""
        node, order = np.zeros(len(x), np.int64), np.arange(len(x))
        for cent, norms in self._descent_levels:
            child = np.empty_like(node)
            nearest_children(x, order, node, cent, norms, self.k, child)
            node, order = child, np.argsort(child, kind="stable")
        return node

    def leaf_centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """(k**depth, D) float32 leaf centroids (zero rows if missing) and the (k**depth,) mask."""
        return self.centroids[-1], self.counts[-1] > 0

    def filled_leaf_centroids(self) -> np.ndarray:
        """(k**depth, D) float32: each leaf's centroid, a missing leaf (an empty cluster) taking
        its nearest existing ancestor's, so every visual word has an embedding to start from."""
        leaves = np.empty((self.k**self.depth, self.dim), np.float32)
        node, filled = np.arange(self.k**self.depth), np.zeros(self.k**self.depth, bool)
        for level in range(self.depth, 0, -1):
            here = ~filled & (self.counts[level - 1][node] > 0)
            leaves[here], filled[here] = self.centroids[level - 1][node[here]], True
            node = node // self.k
        if not filled.all():
            raise ValueError(f"leaf {int(np.flatnonzero(~filled)[0])} has no centroid on any level")
        return leaves

    def metadata(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _META}

    def fingerprint(self) -> str:
        """sha256 of the parameters, the node mask and the centroid bytes (computed once)."""
        return self._fingerprint

    @functools.cached_property
    def _fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps(self.metadata(), sort_keys=True).encode())
        for cent, count in zip(self.centroids, self.counts, strict=True):
            h.update((count > 0).tobytes())
            h.update(np.ascontiguousarray(cent, "<f4").tobytes())
        return h.hexdigest()

    def to_table(self) -> pa.Table:
        """One CENTROIDS row per existing node, sorted by (level, node); metadata as strings."""
        cols = {name: [] for name in CENTROIDS.names}
        for level, (cent, count) in enumerate(zip(self.centroids, self.counts, strict=True), 1):
            node = np.flatnonzero(count)
            cols["level"].append(np.full(len(node), level, np.int8))
            cols["node"].append(node.astype(np.int32))
            parent = node // self.k if level > 1 else np.zeros_like(node)
            cols["parent"].append(parent.astype(np.int32))
            cols["count"].append(count[node])
            cols["fitted"].append(self.fitted[level - 1][node])
            cols["centroid"].append(cent[node].ravel())
        arrays = {name: np.concatenate(parts) for name, parts in cols.items()}
        offsets = np.arange(len(arrays["node"]) + 1, dtype=np.int32) * self.dim
        arrays["centroid"] = pa.ListArray.from_arrays(offsets, arrays.pop("centroid"))
        meta = {**self.metadata(), "fingerprint": self.fingerprint()}
        schema = CENTROIDS.with_metadata({key: str(value) for key, value in meta.items()})
        return pa.Table.from_pydict(arrays, schema=schema)

    @classmethod
    def from_table(cls, table: pa.Table) -> "CentroidTree":
        """Inverse of `to_table`; checks the structure and the recorded fingerprint."""
        meta = {key.decode(): val.decode() for key, val in (table.schema.metadata or {}).items()}
        if missing := set(_META) - meta.keys():
            raise ValueError(f"centroid table lacks metadata {sorted(missing)}")
        k, depth, dim, seed, n_train, niter = (int(meta[name]) for name in _META)
        level, node, count = (np.asarray(table[c], np.int64) for c in ("level", "node", "count"))
        has_fitted = "fitted" in table.column_names  # absent in trees written before issue 14
        fit = np.asarray(table["fitted"], np.int64) if has_fitted else count
        rows = table["centroid"].combine_chunks().flatten().to_numpy().reshape(-1, dim)
        centroids, counts, fitted = [], [], []
        for lv in range(1, depth + 1):
            at = level == lv
            cent, cnt = np.zeros((k**lv, dim), np.float32), np.zeros(k**lv, np.int64)
            fitted.append(np.zeros(k**lv, np.int64))
            cent[node[at]], cnt[node[at]], fitted[-1][node[at]] = rows[at], count[at], fit[at]
            centroids.append(cent)
            counts.append(cnt)
        fitted = tuple(fitted) if has_fitted else None
        tree = cls(k, tuple(centroids), tuple(counts), seed, niter, n_train, fitted)
        if meta.get("fingerprint", tree.fingerprint()) != tree.fingerprint():
            raise ValueError("centroid table does not match its recorded fingerprint")
        return tree


def _sq_norms(c: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", c, c)


def branches(x: np.ndarray, node: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(node id, row indices, rows of x) per distinct node, in node order; one gather per branch."""
    order = np.argsort(node, kind="stable")
    ids, starts = np.unique(node[order], return_index=True)
    for i, start, end in zip(ids, starts, [*starts[1:], len(node)], strict=True):
        idx = order[start:end]
        yield int(i), idx, (x if len(idx) == len(x) else x[idx])


def read_tree(source) -> CentroidTree:
    """A tree from a CENTROIDS Parquet file (a local path or an open binary file)."""
    import pyarrow.parquet as pq

    return CentroidTree.from_table(pq.read_table(source))
