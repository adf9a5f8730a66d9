"""Background re-index jobs started from the console: one at a time, with live progress and cancel.

State lives in files under ``<index>/jobs/`` rather than in memory, because gunicorn runs several
worker processes: whichever worker answers the console's next request sees the same job, progress
and history, and a cancel reaches the worker that runs it. The index folder's lock (held by the
indexer for the whole build) is what guarantees a single job, across workers and CLI runs alike.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from indexer.runner import IndexJob, IndexReport, NothingToIndex, run_index
from indexer.sources.catalog import CatalogError
from indexer.stores.versions import IndexBusy
from vision.embedder import Embedder

log = logging.getLogger(__name__)
HISTORY_LENGTH = 20
PROGRESS_EVERY = 0.5  # seconds between progress writes


class JobRunning(RuntimeError):
    """A re-index is already under way."""


class JobCancelled(RuntimeError):
    """Raised inside the indexer's progress callback to stop a job the merchandiser cancelled."""


@dataclass
class JobState:
    id: str
    state: str                 # running, succeeded, failed, cancelled
    catalog: str
    started: float
    finished: float | None = None
    done: int = 0
    total: int = 0
    images_per_second: float = 0.0
    eta_seconds: float | None = None
    errors: int = 0
    version: str = ""
    products: int = 0
    message: str = ""
    skipped: dict[str, int] = field(default_factory=dict)


class JobBoard:
    """The job files of one index folder."""

    def __init__(self, index_dir: Path):
        self.folder = index_dir / "jobs"
        self._write_lock = threading.Lock()

    @property
    def current_path(self) -> Path:
        return self.folder / "current.json"

    def current(self) -> JobState | None:
        state = _read(self.current_path)
        if state is None:
            return None
        job = JobState(**state)
        try:
            age = time.time() - self.current_path.stat().st_mtime
        except FileNotFoundError:  # the job finished between the read and here
            return None
        if age > 600 and not self._is_locked():
            return None  # a worker died mid-job long ago; the lock shows nothing runs now
        return job

    def history(self) -> list[JobState]:
        return [JobState(**item) for item in (_read(self.folder / "history.json") or [])]

    def save(self, job: JobState) -> None:
        with self._write_lock:
            _write(self.current_path, asdict(job))

    def finish(self, job: JobState) -> None:
        with self._write_lock:
            history = [asdict(job)] + (_read(self.folder / "history.json") or [])
            _write(self.folder / "history.json", history[:HISTORY_LENGTH])
            self.current_path.unlink(missing_ok=True)
            self.cancel_flag.unlink(missing_ok=True)

    @property
    def cancel_flag(self) -> Path:
        return self.folder / "cancel"

    def request_cancel(self) -> bool:
        if self.current() is None:
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        self.cancel_flag.write_text(str(time.time()))
        return True

    def _is_locked(self) -> bool:
        lock = self.folder.parent / ".lock"
        if not lock.exists():
            return False
        with open(lock) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False


def start_reindex(board: JobBoard, job: IndexJob, embedder: Embedder,
                  on_success: Callable[[IndexReport], None]) -> JobState:
    """Start a re-index in a background thread.  :raise JobRunning: when one is under way."""
    if board.current() is not None:
        raise JobRunning("A re-index is already running; wait for it or cancel it.")
    state = JobState(id=uuid.uuid4().hex[:12], state="running", catalog=str(job.catalog), started=time.time())
    board.cancel_flag.unlink(missing_ok=True)
    board.save(state)
    thread = threading.Thread(target=_run, args=(board, state, job, embedder, on_success),
                              name=f"reindex-{state.id}", daemon=True)
    thread.start()
    return state


def _run(board: JobBoard, state: JobState, job: IndexJob, embedder: Embedder,
         on_success: Callable[[IndexReport], None]) -> None:
    last_write = 0.0
    started = time.monotonic()

    def progress(done: int, total: int, errors: int) -> None:
        nonlocal last_write
        if board.cancel_flag.exists():
            raise JobCancelled("Cancelled by the merchandiser.")
        now = time.monotonic()
        if now - last_write < PROGRESS_EVERY and done < total:
            return
        last_write = now
        elapsed = max(now - started, 1e-6)
        state.done, state.total, state.errors = done, total, errors
        state.images_per_second = round(done / elapsed, 2)
        state.eta_seconds = round((total - done) / state.images_per_second, 1) if state.images_per_second else None
        board.save(state)

    try:
        report = run_index(job, embedder, on_progress=progress)
    except JobCancelled as exc:
        state.state, state.message = "cancelled", str(exc)
    except (CatalogError, NothingToIndex, IndexBusy) as exc:
        state.state, state.message = "failed", str(exc)
    except Exception as exc:  # keep the console truthful whatever broke; the old version stays live
        log.exception("Re-index job %s failed", state.id)
        state.state, state.message = "failed", f"Internal error: {type(exc).__name__}"
    else:
        state.state, state.version, state.products = "succeeded", report.version, report.products
        state.skipped = report.skipped_by_reason
        state.errors = len(report.skipped)
        state.done = state.total = report.embedded
        state.message = f"{report.products} products live ({report.embedded} embedded, {report.reused} reused)."
        try:
            on_success(report)
        except Exception:
            log.exception("Switching to version %s after job %s failed", report.version, state.id)
    state.finished = time.time()
    board.finish(state)
    log.info("Re-index job %s %s: %s", state.id, state.state, state.message)


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value))
    os.replace(temporary, path)
