"""Telling organisations what changed: events published from the journal, the feed they
read them from, and the signed webhooks that nudge them."""
