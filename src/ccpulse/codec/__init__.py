"""Bytes to domain values and back: the only layer that knows about JSON."""
