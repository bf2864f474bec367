"""``make load``: a bounded mixed-traffic run against a local stack (``python -m loadtest -h``).

:mod:`loadtest.runner` creates its fixtures through the API, drives N concurrent clients for a fixed
time (incident intake, attendance upserts, media optimise dispatch, list reads), then counts every
acknowledged write back through the API. Only loopback addresses are accepted as targets.
"""
