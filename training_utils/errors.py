"""Errors every tool reports to the user as a message (no traceback).

``UserError`` is the base of every error caused by what the user gave (a config, a path, a file, a value)
or by the machine (no compiler, a read-only folder, a full disk). ``training_utils.cli.reports_user_errors``
prints any of them as ``error: <message>`` and exits with status 2; anything else is a bug and keeps its
traceback. The message says what was wrong, where, and what to do.
"""


class UserError(Exception):
    """A user-caused error; the message names the cause and what to do."""


class ConfigError(UserError, ValueError):
    """A config key or value that is not accepted; the message says which and what is."""
