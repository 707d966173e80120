"""Face embedders (identity models), one file each; registry.py names them."""
