"""Organisations: who they are, what kind, whether they may act, and the names patients read."""
