"""Forensics: the answers to "why", "since when" and "what if", as pure functions.

- ``views``: what they answer with (a diff, a first match, devices by state,
  a what-if report).
- ``diff``: a device's status at two moments, field by field, and the event
  that changed each field last.
- ``matching``: whether a stored status matches what ``first`` looks for.
- ``whatif``: a replay with events dropped or inserted, compared with the
  stored results.

The store finds the rows (indexed reads, the snapshot to start from); these
modules only look at what they are given. Evidence itself is derived by the
rules (``engine/evidence.py``, ``engine/checks.py``).
"""
