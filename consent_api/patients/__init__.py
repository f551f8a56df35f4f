"""Patients resource."""
