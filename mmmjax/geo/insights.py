"""The old import path of the geo insights: :mod:`mmmjax.insights.geo`."""

from mmmjax.insights.geo import *  # noqa: F403
from mmmjax.insights.geo import __all__  # noqa: F401
