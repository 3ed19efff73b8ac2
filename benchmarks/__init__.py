"""Load benchmarks of Invites: ``make bench`` runs ``python -m benchmarks.run``.

``servers`` starts and stops gunicorn instances (also used by the two-instance
tests), ``sessions`` signs session cookies for seeded users, ``endpoints`` is
the table of what is measured, and ``lua/rotate.lua`` is the wrk script.
"""
