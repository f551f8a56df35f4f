"""Notices to patients: outbox, push senders and the scheduled jobs that drain them."""
