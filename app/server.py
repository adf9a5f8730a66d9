"""Run the app under gunicorn: workers that read requests whole before a thread sees them (app.gunicorn_worker),
each loading the model and index once after fork, with Prometheus samples shared through a folder in RAM."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from gunicorn.app.base import BaseApplication

from app.settings import MULTIPROCESS_ENV, Settings

# The path only: query strings can hold shoppers' search text, which has no place in access logs.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


class GunicornServer(BaseApplication):
    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        settings = self.settings
        options = {
            "bind": f"{settings.host}:{settings.port}",
            "workers": settings.worker_count(),
            "threads": settings.thread_count(),
            "worker_class": "app.gunicorn_worker.BufferingWorker",  # gthread, whole requests, JSON errors
            "worker_connections": settings.max_connections,
            "timeout": settings.timeout,
            "graceful_timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "loglevel": settings.log_level.lower(),
            "worker_tmp_dir": "/dev/shm" if Path("/dev/shm").is_dir() else None,
            "preload_app": False,  # torch and background threads must start after the fork
            "child_exit": _forget_worker_samples,
            "worker_exit": _drain_worker,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from app import create_app

        return create_app(self.settings)


def _forget_worker_samples(server, worker) -> None:
    """A dead worker's gauges must not count as live (its counters stay: they are history)."""
    if os.environ.get(MULTIPROCESS_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _drain_worker(server, worker) -> None:
    """Answer the queries already waiting for the model before the worker exits."""
    app = getattr(worker, "wsgi", None)
    state = getattr(app, "extensions", {}).get("shoplens") if app is not None else None
    if state is not None:
        state.stop()


def serve(settings: Settings) -> None:
    samples = tempfile.mkdtemp(prefix="shoplens-metrics-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None)
    os.environ[MULTIPROCESS_ENV] = samples  # before any worker imports prometheus_client
    master = os.getpid()
    try:
        GunicornServer(settings).run()
    finally:  # workers leave through here too (gunicorn forks inside run()): only the master cleans up
        if os.getpid() == master:
            shutil.rmtree(samples, ignore_errors=True)
