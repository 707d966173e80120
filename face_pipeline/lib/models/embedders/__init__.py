"""Face embedders (identity models), one file each: the embedder and its catalogue cards (registry.py lists them)."""
