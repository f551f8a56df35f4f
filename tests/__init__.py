"""Consent Wallet tests."""
