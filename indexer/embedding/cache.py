"""Embedding cache keyed by (model id, sha256 of the image bytes).

SQLite gives atomic per-batch commits, so a run killed with -9 keeps every batch it finished and the
next run embeds only the rest. One file per model id: changing the model never mixes vector spaces.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np


class EmbeddingCache:
    def __init__(self, folder: Path, model_id: str, dim: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{re.sub(r'[^A-Za-z0-9_.@-]+', '_', model_id)}.sqlite"
        self.dim = dim
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (sha256 TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._db.commit()

    def get_many(self, digests: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached vectors for those of ``digests`` that are known; float32 ``(dim,)`` each."""
        wanted = list(dict.fromkeys(digests))
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for digest, blob in self._db.execute(
                        f"SELECT sha256, vector FROM vectors WHERE sha256 IN ({marks})", chunk):
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape == (self.dim,):
                        found[digest] = vector
        return found

    def put_many(self, vectors: Mapping[str, np.ndarray]) -> None:
        rows = [(digest, np.ascontiguousarray(vector, np.float32).tobytes()) for digest, vector in vectors.items()]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO vectors (sha256, vector) VALUES (?, ?)", rows)
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
