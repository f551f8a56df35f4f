"""Notices to patients, whatever the event: the inbox, devices and preferences, the outbox
written in the event's transaction, and its delivery to phones (dispatch, push senders).
Infrastructure: it knows no domain package; the domain decides what to say (its notices)."""
