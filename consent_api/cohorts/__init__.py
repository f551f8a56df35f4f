"""Cohort counts for data users: about how many patients a scope reaches, with differential
privacy (noise from OpenDP, a privacy budget per organisation spent atomically)."""
