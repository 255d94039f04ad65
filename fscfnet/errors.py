"""Errors caused by user input. Command-line entry points print them as one line and exit non-zero."""


class UserError(Exception):
    """Bad input (a config, a file, an argument); the message says which and what to do."""


class DatasetError(UserError, ValueError):
    """A dataset, label or index file that cannot be used; the message names the file (and line)."""
