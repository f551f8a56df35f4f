"""Push senders behind one interface (arrives with the notifications issue)."""
