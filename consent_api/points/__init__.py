"""Health points: the patient's share of every paid use, kept in a double-entry ledger."""
