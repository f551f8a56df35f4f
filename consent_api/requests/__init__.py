"""Requests resource."""
