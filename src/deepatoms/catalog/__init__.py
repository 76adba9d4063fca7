"""The catalog: the registry of atoms (`registry`) and their one-line summaries (`index`)."""
