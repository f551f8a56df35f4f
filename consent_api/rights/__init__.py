"""The patient's rights over their data: export everything (GDPR art. 15, 20), erase (17)."""
