"""Errors raised by mmmjax."""

from __future__ import annotations


class DataError(ValueError):
    """Invalid input data.

    The message names the offending column and, where it applies, the row (1-based, as in the
    file) or the date, so a user can find and fix the cell. The CLI prints it as one line and
    exits with status 2.
    """


class SamplerWarning(UserWarning):
    """The sampler's output needs attention (r-hat, effective sample size, divergences).

    The message says, in plain words, what went wrong and what to try.
    """


class DataWarning(UserWarning):
    """A data review error that the user chose to fit through (``review="warn"``)."""
