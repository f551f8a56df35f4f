"""WSGI entry point for gunicorn: `gunicorn -c python:server.gunicorn_conf server.wsgi:app`."""

import gc

from server.app import create_app
from server.serving import ServedRequests

app = create_app()
# Bodies are read in full, within BODY_TIMEOUT, before the app runs on its own WEB_THREADS.
app.wsgi_app = ServedRequests(
    app.wsgi_app,
    body_timeout=app.config["BODY_TIMEOUT"],
    max_body=max(app.config["MAX_CONTENT_LENGTH"], app.config["MAX_BATCH_BODY_BYTES"]),
    threads=app.config["WEB_THREADS"],
    production=app.config["APP_ENV"] == "production",
)
# Everything built at start-up lives as long as the worker: move it out of the collector's
# reach so full collections during large batches stay short (measured in bench/: p90 halved).
gc.freeze()
