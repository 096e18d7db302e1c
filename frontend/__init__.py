"""The frontend server: serves the demo page and proxies its same-origin API and span paths.

The page calls ``/users``, ``/payments/...``, ``/orders`` and ``/products`` on its own origin;
this server forwards them, untouched (``traceparent`` included), to the services, and forwards
the browser's spans from ``/otlp-http/`` to the collector's OTLP/HTTP receiver. The page's trace
view reads ``/api/traces/<id>`` and its metrics ``/api/metrics``. In containers nginx does the
same job, so the page has one shape everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask, Response, jsonify, send_from_directory

from frontend.settings import FrontendSettings

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(config: FrontendSettings | None = None) -> Flask:
    """Application factory: ``gunicorn 'frontend.wsgi:app'``."""
    settings = config or FrontendSettings.from_env()
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="")
    app.extensions["settings"] = settings

    from frontend.metrics_api import bp as metrics_api_bp
    from frontend.proxy import bp as proxy_bp
    from frontend.trace_api import bp as trace_api_bp
    from frontend.viewer import bp as viewer_bp

    app.register_blueprint(proxy_bp)
    app.register_blueprint(metrics_api_bp)
    app.register_blueprint(trace_api_bp)
    app.register_blueprint(viewer_bp)

    @app.get("/")
    def index() -> Response:
        return send_from_directory(STATIC_DIR, "index.html", max_age=0)

    @app.get("/config.js")
    def page_config() -> Response:
        """What the page may not hard-code, as the Go sample's config.js."""
        body = "window.DEMO_CONFIG = " + json.dumps({"traceUiUrl": settings.trace_link}) + ";\n"
        return Response(body, mimetype="text/javascript", headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    @app.get("/readyz")
    def health() -> Response:
        return jsonify(status="ok", service="frontend")

    return app
