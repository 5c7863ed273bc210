"""What kind of fit this is, asked in one place.

National data is a panel of one geo; code that shows or writes a fit differently when it has
several geos (the report's per-geo sections, ``roi.csv``'s per-geo rows, MLflow's ``geo`` kind)
asks :func:`is_panel` rather than testing classes itself, so that the day national and geo
fits are one class only this module changes. Imports nothing at start-up (the CLI's start-up
stays cheap).
"""

from __future__ import annotations

from typing import Any

__all__ = ["is_panel"]


def is_panel(fit: Any) -> bool:
    """Whether ``fit`` is a fit of a geo panel of several geos, with per-geo results: its data
    are a panel (:func:`mmmjax.data.is_panel`; a one-geo panel is fitted as national data, so
    its fit is national)."""
    from mmmjax.data import is_panel as is_panel_data

    return is_panel_data(fit.dataset)
