"""Registration by the operator: an organisation with its OAuth client, and patient apps."""
