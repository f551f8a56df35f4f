"""Load benchmarks for Consent Wallet: gunicorn on PostgreSQL, driven by wrk (`make bench`)."""
