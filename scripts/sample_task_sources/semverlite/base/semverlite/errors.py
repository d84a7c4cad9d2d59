"""Exceptions raised by semverlite."""


class InvalidVersion(ValueError):
    """Text that is not a valid semantic version."""


class InvalidRange(ValueError):
    """Text that is not a valid version range."""
