"""Studies: a data user registers a study, the operator reviews it, and (next) its
invitations go to the patients whose research preferences match; the sponsor sees counts."""
