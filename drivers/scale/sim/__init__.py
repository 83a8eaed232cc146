"""Simulated scale: a part that behaves like the real one, faults included, with its
bench controls (only simulator classes carry controls)."""
