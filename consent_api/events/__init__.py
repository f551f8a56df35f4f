"""What organisations are told of: the journal every change writes in its own transaction,
and each organisation's sequenced events that the worker publishes from it."""
