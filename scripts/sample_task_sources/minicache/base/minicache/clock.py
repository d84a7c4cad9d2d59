"""Clocks: the real monotonic clock, and a manual one for tests and simulations."""

import time

monotonic = time.monotonic


class ManualClock:
    """A clock that only moves when told to. Call it to read the time."""

    def __init__(self, start=0.0):
        self.now = float(start)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self.now += seconds
        return self.now
