"""Abuse detection and organisation governance: rules over the stream of data uses and
refused attempts, incidents for the operator to review, and the blacklist."""
