"""The audit log: an append-only record of what changed what a patient agreed to or what was
done with their data, made provable by a Merkle tree (RFC 9162)."""
