"""Shared test configuration: hypothesis profiles.

`ci` (selected when CI=true) is derandomized so a CI run is reproducible; `dev` keeps
hypothesis' random exploration for local runs. Both bound examples and disable the
per-example deadline (the machine is small and shared, timing is not what we test).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")
