"""The Flask application factory: one app for webhooks, the install flow and the dashboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from stammkunde.app.context import AppContext
from stammkunde.core.config import Settings


def create_app(config: dict[str, Any] | None = None, settings: Settings | None = None) -> Flask:
    """Build the web app; ``config`` overrides Flask settings (tests pass TESTING etc.)."""
    app = Flask("stammkunde", root_path=str(Path(__file__).parent))
    ctx = AppContext(settings or Settings.from_env())
    app.config.update(
        SECRET_KEY=ctx.settings.secret_key or "",
        MAX_CONTENT_LENGTH=1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update(config or {})
    app.extensions["stammkunde"] = ctx

    from stammkunde.app.install_shopify import bp as install_shopify

    app.register_blueprint(install_shopify)

    from stammkunde.app.install_woocommerce import bp as install_woocommerce

    app.register_blueprint(install_woocommerce)

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, str], int]:
        """Report that the process is up."""
        return {"status": "ok"}, 200

    return app


def app_context(app: Flask) -> AppContext:
    """Return the Stammkunde context (database, plugins, settings) of a Flask app."""
    return app.extensions["stammkunde"]
