"""Errors every tool reports to the user as a message (no traceback)."""


class ConfigError(ValueError):
    """A config key or value that is not accepted; the message says which and what is."""
