"""Photos: event names and folders (events.py), finding an event's files (files.py), decoding them
(decode.py), and noticing what changed under the photos root (watch.py, the sensor's core)."""
