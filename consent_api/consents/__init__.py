"""Consents resource."""
