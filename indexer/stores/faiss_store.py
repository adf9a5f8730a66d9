"""FAISS files: exact search for small catalogs, HNSW for large ones, IVF-PQ for huge ones.

Every index is read memory-mapped, so the gunicorn workers of one box share a single copy through
the page cache. IVF-PQ keeps 64 bytes per vector in its lists (vs 2 KB as float32); its approximate
scores only pick candidates, which are then re-ranked exactly from the memory-mapped ``vectors.npy``,
and ``nprobe`` is chosen at build time as the smallest reaching the recall target (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import logging
import math
import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np
from tqdm import tqdm

from indexer.records import Manifest, Product, VectorStoreConfig
from indexer.stores.filters import FilterColumns, SearchFilters
from indexer.stores.vector_store import EXACT_LIMIT, CorruptIndex, ProductRows

log = logging.getLogger(__name__)
ANN_FACTORY = "HNSW32,Flat"
ANN_EF_CONSTRUCTION = 100       # 40 (FAISS's default) lost 6 points of recall@10 in bench/search.py
ANN_EF_SEARCH = 128             # recall@10 >= 0.95 with a p50 well under 5 ms (docs/BENCHMARKS.md)
SUBSET_EXACT_LIMIT = 50_000     # a filtered subset this small is scanned exactly (a few ms)...
IVF_SUBSET_EXACT_LIMIT = 15_000  # ...but an IVF index: beyond ~10 ms of scanning its lists are faster, if not exact
FILTER_PROBE_FACTOR = 2         # a filter keeping a share s of the rows probes 2 x nprobe / s lists (capped)
SUBSET_ROW_COST = 15            # a filtered row scored from its PQ code costs ~15 codes skipped in the lists
SUBSET_RERANK_DEPTH = 200       # candidates of those codes re-scored exactly (recall@10 1.0 at 1 % of 5M)
FILTER_CODES_FILE = "filter_codes.npy"  # every row's vector as a PQ code, in row order
FILTER_PQ_FILE = "filter_pq.faiss"      # the codebooks of those codes
FILTER_CODES_MIN = 39 * 256             # FAISS's PQ training wants 39 points per centroid (256 per sub-space)
TRAIN_PER_CENTROID = 40         # FAISS's k-means warns below 39 points per IVF centroid
TRAIN_SAMPLE_MIN = 100_000      # the PQ codebooks (256 centroids per sub-space) want at least this many
RERANK_DEPTH = 100              # compressed candidates re-scored exactly per query (at least 4 x k)...
RERANK_DEPTH_MAX = 1600         # ...raised by the tuner where PQ codes alone miss true neighbours
TUNING_QUERIES = 200
PLATEAU_GAIN = 0.002            # recall@10 a doubling of nprobe or re-rank depth must add to be worth it
ADD_CHUNK = 100_000
PREAD_MAX_ROWS = 2_000          # above this, reading rows through the memory map is faster


def choose_factory(count: int, config: VectorStoreConfig = VectorStoreConfig(), dim: int = 512) -> str:
    if config.index_factory:
        return config.index_factory
    if count >= config.compressed_from:
        return compressed_factory(count, dim)
    return "Flat" if count < EXACT_LIMIT else ANN_FACTORY


def compressed_factory(count: int, dim: int) -> str:
    """IVF with about 4 sqrt(n) lists (a power of two) found through an HNSW quantizer, PQ codes of 64 bytes.

    OPQ would gain a little recall but its training took minutes on a 200k sample here; the exact
    re-ranking recovers more for less.
    """
    lists = 2 ** max(4, round(math.log2(4 * math.sqrt(count))))
    return f"IVF{lists}_HNSW32,PQ{pq_subquantizers(dim)}"


def pq_subquantizers(dim: int) -> int:
    """One byte per subquantizer, 64 at most, each over at least 4 dimensions (8 for CLIP's 512)."""
    return max(m for m in range(1, 65) if dim % m == 0 and dim // m >= min(4, dim))


def is_compressed(factory: str) -> bool:
    return "IVF" in factory and "PQ" in factory


@dataclass(frozen=True)
class FilterCodes:
    """Every row's vector as a plain (not IVF-residual) PQ code, in row order, memory-mapped.

    A selective filter on an IVF index either probes most lists, skipping codes one bit test at a time
    (20-55 ms at 1 % of 5M), or copies the allowed rows' codes here into a throw-away ``IndexPQ`` and lets
    FAISS score just those (50,000 x 64 bytes: 8-10 ms, docs/BENCHMARKS.md). Plain codes, because an IVF
    residual code means nothing without its list's centroid.
    """

    quantizer: faiss.IndexPQ  # trained, empty: its codebooks
    codes: np.ndarray

    def candidates(self, query: np.ndarray, rows: np.ndarray, depth: int) -> np.ndarray:
        """The ``depth`` rows among ``rows`` whose codes score best against ``query``."""
        pq = self.quantizer.pq
        subset = faiss.IndexPQ(self.quantizer.d, pq.M, pq.nbits, faiss.METRIC_INNER_PRODUCT)
        subset.pq, subset.is_trained = pq, True
        subset.add_sa_codes(np.ascontiguousarray(self.codes[rows]))
        _, found = subset.search(query, min(depth, len(rows)))
        return rows[found[0][found[0] >= 0]]

    @classmethod
    def write(cls, vectors: np.ndarray, folder: Path) -> None:
        dim = vectors.shape[1]
        quantizer = faiss.IndexPQ(dim, pq_subquantizers(dim), 8, faiss.METRIC_INNER_PRODUCT)
        tick = time.perf_counter()
        quantizer.train(vectors[training_sample(len(vectors), TRAIN_SAMPLE_MIN)])
        codes = np.lib.format.open_memmap(folder / FILTER_CODES_FILE, mode="w+", dtype=np.uint8,
                                          shape=(len(vectors), quantizer.pq.code_size))
        with tqdm(total=len(vectors), unit="vec", desc="Encoding filter codes", disable=None, leave=False) as bar:
            for start in range(0, len(vectors), ADD_CHUNK):
                stop = min(start + ADD_CHUNK, len(vectors))
                codes[start:stop] = quantizer.sa_encode(np.ascontiguousarray(vectors[start:stop]))
                bar.update(stop - start)
        codes.flush()
        faiss.write_index(quantizer, str(folder / FILTER_PQ_FILE))
        log.info("Filter codes for %d vectors in %.1f s", len(vectors), time.perf_counter() - tick)

    @classmethod
    def open(cls, folder: Path, count: int, dim: int) -> "FilterCodes | None":
        """None for versions written without them (their filters probe the lists, as before).

        :raise CorruptIndex: when the files do not match the version.
        """
        if not (folder / FILTER_CODES_FILE).exists():
            return None
        try:
            quantizer = faiss.read_index(str(folder / FILTER_PQ_FILE))  # already its own type
            codes = np.load(folder / FILTER_CODES_FILE, mmap_mode="r")
        except (OSError, ValueError, RuntimeError) as exc:
            raise CorruptIndex(f"Index version {folder.name}: its filter codes cannot be loaded: {exc}") from exc
        expected = (count, quantizer.code_size) if isinstance(quantizer, faiss.IndexPQ) else None
        if quantizer.d != dim or codes.shape != expected:
            raise CorruptIndex(f"Index version {folder.name}: {FILTER_CODES_FILE} holds {codes.shape} codes, "
                               f"expected {count} rows of its {FILTER_PQ_FILE}.")
        return cls(quantizer, codes)


def training_sample(count: int, wanted: int) -> np.ndarray:
    """Sorted rows of a fixed random sample: k-means on more points barely moves the centroids and costs minutes."""
    return np.sort(np.random.default_rng(0).permutation(count)[:wanted])


class FaissVectors:
    """Search one version's FAISS index with filters, exact re-ranking and exact fallbacks."""

    def __init__(self, index: faiss.Index, vectors: np.ndarray, *, exact: bool,
                 columns: FilterColumns | None = None, nprobe: int = 0, rerank_depth: int = 0,
                 filter_codes: FilterCodes | None = None):
        self.index, self.vectors, self.exact = index, vectors, exact
        self.columns, self.filter_codes = columns, filter_codes
        self.nprobe, self.rerank_depth = nprobe, rerank_depth
        self._base = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
        self._ivf = faiss.try_extract_index_ivf(self._base)
        if self._ivf is not None:
            lists = faiss.downcast_InvertedLists(self._ivf.invlists)
            if isinstance(lists, faiss.OnDiskInvertedLists):
                # Memory-mapped lists start prefetch threads on every search: at nprobe 8 on 2 cores that
                # made a 0.04 ms search take 0.3-3.5 ms; page faults on a warm page cache cost less.
                lists.prefetch_nthread = 0
        self._fd = os.open(vectors.filename, os.O_RDONLY) if isinstance(vectors, np.memmap) else None
        if self._fd is not None:
            weakref.finalize(self, os.close, self._fd)  # a replaced version closes its file when dropped

    def search(self, query: np.ndarray, k: int, filters: SearchFilters = SearchFilters(),
               exclude_row: int | None = None) -> list[tuple[int, float]]:
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        mask = self.columns.mask(filters, exclude_row) if self.columns is not None else None
        if mask is None:
            return self._scan(query, k, None) if self.exact else self._ann(query, k, None)
        allowed = np.flatnonzero(mask)
        exact_limit = IVF_SUBSET_EXACT_LIMIT if self._ivf is not None else SUBSET_EXACT_LIMIT
        if self.exact or len(allowed) <= exact_limit:
            return self._scan(query, k, allowed)
        if self._prefers_filter_codes(len(allowed), len(mask)):
            depth = max(SUBSET_RERANK_DEPTH, self.rerank_depth, 4 * k)
            return self._scan(query, k, np.sort(self.filter_codes.candidates(query, allowed, depth)))
        hits = self._ann(query, k, mask, len(allowed))
        return hits if len(hits) >= min(k, len(allowed)) else self._scan(query, k, allowed)

    def filtered_nprobe(self, share: float) -> int:
        """Lists to probe when a filter keeps ``share`` of the rows.

        A random filter keeping 1 % puts the 10 nearest allowed vectors among the ~1,000 nearest of all,
        spread over many more lists than the 10 nearest: probing 2 / share times the tuned lists sees about
        twice as many allowed vectors as an unfiltered search sees vectors (recall@10 0.95 at 1 % of 1M,
        0.98 at 5 %, docs/BENCHMARKS.md). Filters that follow the embedding (a category) do better.
        """
        nprobe = self.nprobe or self._ivf.nprobe
        if share >= 1.0:
            return nprobe
        return int(min(self._ivf.nlist, math.ceil(nprobe * FILTER_PROBE_FACTOR / max(share, 1e-9))))

    def _prefers_filter_codes(self, allowed: int, total: int) -> bool:
        """Score the allowed rows' own codes when that costs less than skipping through the probed lists."""
        if self.filter_codes is None or self._ivf is None:
            return False
        probed_codes = total * min(1.0, self.filtered_nprobe(allowed / total) / self._ivf.nlist)
        return allowed * SUBSET_ROW_COST < probed_codes

    def vector(self, row: int) -> np.ndarray:
        return np.asarray(self.vectors[row])

    def vectors_of(self, rows: Sequence[int]) -> np.ndarray:
        wanted = np.asarray(rows, dtype=np.int64).reshape(-1)
        return np.asarray(self._read_rows(wanted), dtype=np.float32).reshape(len(wanted), self.vectors.shape[1])

    def _scan(self, query: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[int, float]]:
        """Exact search by matrix product over all rows, or over ``rows`` only."""
        candidates = np.arange(len(self.vectors)) if rows is None else rows
        if len(candidates) == 0 or k <= 0:
            return []
        if rows is not None and len(rows) <= PREAD_MAX_ROWS:
            # einsum's own loop, not BLAS: for a few hundred rows waking BLAS threads costs more than the
            # product, and in a server the other cores are busy with other requests.
            scores = np.einsum("ij,j->i", self._read_rows(rows), query[0])
        else:
            scores = np.asarray(self.vectors[rows] if rows is not None else self.vectors) @ query[0]
        take = min(k, len(candidates))
        best = np.argpartition(-scores, take - 1)[:take]
        best = best[np.lexsort((candidates[best], -scores[best]))]
        return [(int(candidates[i]), float(scores[i])) for i in best]

    def _ann(self, query: np.ndarray, k: int, mask: np.ndarray | None = None,
             allowed: int = 0) -> list[tuple[int, float]]:
        """Search the index inside the ID map, whose own ids are the rows (they were added in row order).

        A filter becomes a bitmap over rows: one bit test per scanned vector, where the ID map's batch
        selector (a hash set of 50,000 ids, rebuilt for each query) cost 10 ms before the search began.
        """
        selector = bits = None
        if mask is not None:
            bits = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        depth = max(self.rerank_depth, 4 * k) if self._ivf is not None and self.rerank_depth else k
        share = allowed / len(mask) if mask is not None else 1.0
        scores, rows = self._base.search(query, depth, params=self._params(selector, k, share))
        del bits  # the selector reads it until the search returns
        found = rows[0] >= 0
        found_rows = rows[0][found]
        if depth > k:  # approximate candidates: re-score them exactly, in file order for the page cache
            return self._scan(query, k, np.sort(found_rows))
        return [(int(row), float(score)) for row, score in zip(found_rows, scores[0][found])]

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Scattered rows by pread: faulting them in through the memory map maps whole large folios
        per fault, which within minutes maps the whole file into every worker's page tables."""
        if self._fd is None:
            return np.asarray(self.vectors[rows])
        width = self.vectors.shape[1] * self.vectors.itemsize
        offset, fd, pread = self.vectors.offset, self._fd, os.pread
        # a list of plain ints, not numpy scalars: a re-rank reads ~100 rows, and the per-row Python cost
        # is most of the time (1.6 -> 1.0 us a row)
        data = b"".join([pread(fd, width, offset + row * width) for row in np.asarray(rows).tolist()])
        return np.frombuffer(data, dtype=self.vectors.dtype).reshape(len(rows), -1)

    def _params(self, selector, k: int, share: float = 1.0):
        if self._ivf is not None:
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.filtered_nprobe(share))
        if isinstance(self._base, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(self._base.hnsw.efSearch, k))
        return faiss.SearchParameters(sel=selector) if selector is not None else None


class FaissFiles:
    """Versions as ``index.faiss`` + ``vectors.npy`` in the version folder."""

    kind = "faiss"

    def __init__(self, config: VectorStoreConfig = VectorStoreConfig()):
        self.config = config

    def write(self, staging: Path, manifest: "Manifest", products: Sequence[Product], ids: np.ndarray,
              vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, np.float32)
        factory = choose_factory(len(vectors), self.config, vectors.shape[1])
        index = build_index(vectors, ids, factory)
        manifest.index_type, manifest.vector_store = factory, self.kind
        if isinstance(faiss.downcast_index(index.index), faiss.IndexHNSW):
            manifest.ef_search = ANN_EF_SEARCH
        if faiss.try_extract_index_ivf(index.index) is not None:
            tuning = tune_search(index, vectors, is_compressed(factory), self.config.recall_target)
            manifest.nprobe, manifest.rerank_depth, manifest.tuned_recall = tuning
        faiss.write_index(index, str(staging / "index.faiss"))
        if faiss.try_extract_index_ivf(index.index) is not None and len(vectors) >= FILTER_CODES_MIN:
            FilterCodes.write(vectors, staging)
        np.save(staging / "vectors.npy", vectors)

    def open(self, folder: Path, manifest: "Manifest", products: ProductRows) -> FaissVectors:
        try:
            index = faiss.read_index(str(folder / "index.faiss"), read_flags(manifest.index_type))
            vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        except (OSError, ValueError, RuntimeError) as exc:
            raise CorruptIndex(f"Index version {folder.name} cannot be loaded: {exc}") from exc
        count, dim = manifest.vector_count, manifest.dim
        problems = []
        if vectors.shape != (count, dim):
            problems.append(f"vectors are {vectors.shape}, expected {(count, dim)}")
        if index.ntotal != count or index.d != dim:
            problems.append(f"FAISS index holds {index.ntotal} x {index.d}, expected {count} x {dim}")
        if problems:
            raise CorruptIndex(f"Index version {folder.name} is inconsistent: {'; '.join(problems)}.")
        return FaissVectors(index, vectors, exact=manifest.index_type == "Flat",
                            columns=products.filter_columns(), nprobe=manifest.nprobe,
                            rerank_depth=manifest.rerank_depth, filter_codes=FilterCodes.open(folder, count, dim))

    def discard(self, manifest: "Manifest") -> None:
        """Nothing outside the version folder, which the pruner deletes."""


def read_flags(factory: str) -> int:
    """Memory-map the file: IVF lists through FAISS's on-disk lists, flat codes through IFC mapping."""
    mapping = faiss.IO_FLAG_MMAP if "IVF" in factory else faiss.IO_FLAG_MMAP_IFC
    return mapping | faiss.IO_FLAG_READ_ONLY


def build_index(vectors: np.ndarray, ids: np.ndarray, factory: str) -> faiss.Index:
    """An inner-product index over unit vectors, addressed by ``ids`` through an ID map."""
    base = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if isinstance(base, faiss.IndexHNSW):
        base.hnsw.efConstruction = ANN_EF_CONSTRUCTION
        base.hnsw.efSearch = ANN_EF_SEARCH
    ivf = faiss.try_extract_index_ivf(base)
    quantizer = faiss.downcast_index(ivf.quantizer) if ivf is not None else None
    if isinstance(quantizer, faiss.IndexHNSW):
        # Saved with the file. At FAISS's default 16, the lists probed at 5M vectors were only 69 % of the
        # 64 nearest, and exhaustive probing still missed neighbours (docs/BENCHMARKS.md).
        quantizer.hnsw.efSearch = ANN_EF_SEARCH
    if not base.is_trained:
        wanted = max(TRAIN_PER_CENTROID * ivf.nlist if ivf is not None else 0, TRAIN_SAMPLE_MIN)
        sample = training_sample(len(vectors), wanted)
        tick = time.perf_counter()
        base.train(vectors[sample])
        log.info("Trained %s on %d vectors in %.1f s", factory, len(sample), time.perf_counter() - tick)
    # IDMap, not IDMap2: searches run inside the map (rows, not ids), and IDMap2's reverse hash map, rebuilt by
    # every process that reads the file, took 200 MB per worker at 5M vectors (docs/BENCHMARKS.md).
    index = faiss.IndexIDMap(base)
    ids = ids.astype(np.int64)
    with tqdm(total=len(vectors), unit="vec", desc="Building index", disable=None, leave=False) as bar:
        for start in range(0, len(vectors), ADD_CHUNK):
            stop = min(start + ADD_CHUNK, len(vectors))
            index.add_with_ids(vectors[start:stop], ids[start:stop])
            bar.update(stop - start)
    return index


def tune_search(index: faiss.Index, vectors: np.ndarray, compressed: bool, target: float) -> tuple[int, int, float]:
    """The cheapest (nprobe, re-rank depth) found whose recall@10 reaches ``target``, and that recall.

    Greedy: each step doubles whichever of the two gains more recall. More lists help while the true
    neighbours sit in unvisited lists; a deeper re-rank helps once PQ's coarse scores rank them below
    the candidates kept (codes too coarse for the catalog). Queries are
    catalog vectors moved by noise (a shopper's photo is never a catalog image); the truth is exact
    search over every vector. Searches go through ``FaissVectors``, as served.
    """
    rng = np.random.default_rng(0)
    count, dim = vectors.shape
    queries = vectors[rng.integers(0, count, min(TUNING_QUERIES, count))]
    queries = queries + rng.normal(scale=0.35 / math.sqrt(dim), size=queries.shape).astype(np.float32)
    queries = np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), np.float32)
    k = min(10, count)
    _, truth = faiss.knn(queries, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
    expected = [set(row) for row in truth.tolist()]

    def recall_at(nprobe: int, depth: int) -> float:
        searcher = FaissVectors(index, vectors, exact=False, nprobe=nprobe, rerank_depth=depth)
        return float(np.mean([len({row for row, _ in searcher.search(query, k)} & rows) / k
                              for query, rows in zip(queries, expected)]))

    nlist = faiss.extract_index_ivf(index.index).nlist
    nprobe, depth = 1, RERANK_DEPTH if compressed else 0
    recall = recall_at(nprobe, depth)
    while recall < target:
        steps = [(min(nprobe * 2, nlist), depth)] if nprobe < nlist else []
        if compressed and depth < RERANK_DEPTH_MAX:
            steps.append((nprobe, min(depth * 2, RERANK_DEPTH_MAX)))
        if not steps:
            break
        gained, step = max(((recall_at(*step), step) for step in steps), key=lambda scored: scored[0])
        log.info("nprobe %d, re-rank depth %d: recall@10 %.3f", *step, gained)
        if gained - recall < PLATEAU_GAIN:  # twice the work for nothing: the codes are the limit
            break
        recall, (nprobe, depth) = gained, step
    if recall < target:
        log.warning("Recall@10 stops at %.3f (target %.2f) at nprobe %d, re-rank depth %d: these codes are too "
                    "coarse for this catalog: give --index-factory more PQ bytes per vector (e.g. IVF%d_HNSW32,PQ%d).",
                    recall, target, nprobe, depth, nlist, 2 * pq_subquantizers(dim))
    else:
        log.info("nprobe %d, re-rank depth %d: recall@10 %.3f (target %.2f)", nprobe, depth, recall, target)
    return nprobe, depth, recall
