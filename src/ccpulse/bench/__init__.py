"""Benchmarks of ccpulse's own code (``make bench``); not imported by the worker."""
