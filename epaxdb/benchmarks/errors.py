"""Why a benchmark did not run to the end."""

from __future__ import annotations

from epaxdb.errors import EpaxdbError


class BenchmarkError(EpaxdbError):
    """The benchmark cannot go on: setup failed, or a system under test misbehaved."""


class BaselineUnavailable(BenchmarkError):
    """A baseline's software is not installed here (the message says how to get it)."""


class PlotUnavailable(BenchmarkError):
    """--plot was asked for without the optional plotting dependency."""
