"""Errors a user can act on: printed as one line by the CLI, never as a traceback."""


class UserError(Exception):
    """Bad input, a missing model or file, an unknown key: says what and how to fix it."""
