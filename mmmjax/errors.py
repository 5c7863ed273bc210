"""Errors raised by mmmjax."""

from __future__ import annotations


class DataError(ValueError):
    """Invalid input data.

    The message names the offending column and, where it applies, the row (1-based, as in the
    file) or the date, so a user can find and fix the cell. The CLI prints it as one line and
    exits with status 2.
    """
