"""Run the app under gunicorn: threaded workers, each loading the model and index once after fork."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from app.settings import Settings

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
            "threads": settings.threads,
            "worker_class": "app.gunicorn_worker.JsonErrorWorker",  # gthread, JSON errors
            "timeout": settings.timeout,
            "graceful_timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "loglevel": settings.log_level.lower(),
            "worker_tmp_dir": "/dev/shm",
            "preload_app": False,  # torch and background threads must start after the fork
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        from app import create_app

        return create_app(self.settings)


def serve(settings: Settings) -> None:
    GunicornServer(settings).run()
