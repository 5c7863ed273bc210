"""The current split: the data's recent spend mix, the reference a plan is compared with.

``CURRENT_PERIODS`` periods at the end of the data, their mean spend per channel (a geo fit's
summed over geos, or per ``(geo, channel)`` cell with ``by="geo"``), money per period."""

from __future__ import annotations

import numpy as np

__all__ = ["CURRENT_PERIODS", "current_split", "national_spend"]

#: Periods at the end of the data whose mean spend mix is "the current split".
CURRENT_PERIODS = 13


def national_spend(fit) -> np.ndarray:
    """``(T, C)`` spend per period and channel (money); a geo fit's summed over geos."""
    spend = np.asarray(fit.dataset.spend, dtype=np.float64)
    return spend.sum(axis=0) if spend.ndim == 3 else spend  # geo panels are (G, T, C)


def current_split(fit, periods: int = CURRENT_PERIODS, by: str = "national") -> np.ndarray:
    """Mean spend per period over the last ``periods`` periods (money): ``(C,)`` per channel
    (a geo fit's summed over geos), or, for a geo fit with ``by="geo"``, ``(G * C,)`` per
    ``(geo, channel)`` cell, geo-major (cell ``g * C + c``), as ``optimize_budget(by="geo")``.

    Falls back to the whole window when nothing was spent in the last ``periods``.
    """
    if int(periods) < 1:
        raise ValueError(f"periods must be at least 1, got {periods}")
    if by not in ("national", "geo"):
        raise ValueError(f"by must be 'national' or 'geo', got {by!r}")
    spend = np.asarray(fit.dataset.spend, dtype=np.float64)
    if not (by == "geo" and spend.ndim == 3):
        spend = national_spend(fit)
    recent = spend[..., -int(periods) :, :].mean(axis=-2)
    out = recent if recent.sum() > 0 else spend.mean(axis=-2)
    return out.reshape(-1)
