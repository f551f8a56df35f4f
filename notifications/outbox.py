"""Outbox: notice rows written in the caller's transaction (with the notifications issue)."""
