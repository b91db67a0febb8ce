"""The pure core: events, lifecycles and KPI arithmetic.

Imports only the Python standard library (``make lint`` checks it), so every
runtime (Faust worker, replay, tests) shares one definition of each KPI.
Time is integer epoch milliseconds throughout.
"""
