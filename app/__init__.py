"""The shoplens web service: ``create_app`` builds it; nothing runs at import time."""

from __future__ import annotations

from importlib import resources as package_files

from flask import Flask

from app.settings import Settings


def create_app(settings: Settings | None = None, *, background_load: bool = True, model=None) -> Flask:
    """Build the app; the model and index load in the background unless ``background_load`` is False.

    ``model`` replaces the index's CLIP model with one already built (benches and tests: see ``Resources``).

    :raise IndexNotFound, WeightsNotFound, ...: only with ``background_load=False`` (tests, checks).
    """
    from app import admin, catalog_images, health, live_tryon, openapi, recommend, search, shades, tryon, web, webapp
    from app.errors import register_error_handlers
    from app.limits import install_cors, install_rate_limits
    from app.metrics import install_metrics
    from app.resources import Resources, init_app
    from app.security import register_security_headers
    from app.uploads import DepthSafeJSON, InMemoryRequest

    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=str(package_files.files("static")), static_url_path="/static")
    app.request_class = InMemoryRequest
    app.json = DepthSafeJSON(app)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_request_bytes(),
                      MAX_FORM_MEMORY_SIZE=500_000, MAX_FORM_PARTS=50)
    register_error_handlers(app)
    register_security_headers(app)
    for blueprint in (search.bp, recommend.bp, tryon.bp, shades.bp, catalog_images.bp, admin.bp, health.bp,
                      openapi.bp, web.bp, webapp.bp, webapp.share_bp, live_tryon.bp):
        app.register_blueprint(blueprint)
    install_rate_limits(app, settings)
    install_cors(app, settings)
    observer = install_metrics(app, settings)
    state = Resources(settings, observer, model=model)
    init_app(app, state)
    state.start(background=background_load)
    return app
