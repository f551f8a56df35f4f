"""Outbox: notice rows written in the caller's transaction (arrives with the notifications issue)."""
