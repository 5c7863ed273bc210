"""Inference: sampling the posterior and holding the result.

:mod:`~mmmjax.inference.nuts` (the NUTS kernel), :mod:`~mmmjax.inference.sampling` (chains,
warm-up, MAP start, progress), :mod:`~mmmjax.inference.fit` (national data: the :class:`Fit`),
:mod:`~mmmjax.inference.geo_fit` (panels: the :class:`GeoFit`), :mod:`~mmmjax.inference.idata`
and :mod:`~mmmjax.inference.store` (ArviZ data and lossless saved fits),
:mod:`~mmmjax.inference.validation` (holdout, rolling CV, the ridge baseline) and
:mod:`~mmmjax.inference.refresh` / :mod:`~mmmjax.inference.geo_refresh` (a fit's posterior as
the next fit's prior). This package imports nothing itself: import the modules.
"""
