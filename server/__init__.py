"""The service's core and its composition root.

Core, at the bottom of the house (no domain imports): config, db, errors, http, jsonio,
pagination, idempotency, ratelimit, scopes, guard, health. Composition root, on top (wires
everything): app (`create_app`), cli, jobs, worker, demo, wsgi. See the README's
architecture section and the import contracts in pyproject.toml.
"""
