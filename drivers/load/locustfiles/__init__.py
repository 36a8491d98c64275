"""Locustfiles, one per kind of load; run them through ``python -m drivers.load.run_locust NAME``.

Each only declares tasks; the users, client and hooks live in ``drivers.load``.
"""
