"""Face detectors, one file each; registry.py names them."""
