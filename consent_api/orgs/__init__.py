"""Orgs resource."""
