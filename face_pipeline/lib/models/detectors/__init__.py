"""Face detectors, one file each: the detector and its catalogue cards (registry.py lists them)."""
