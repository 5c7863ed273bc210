r"""Budget optimizer: the split of a budget across channels that maximises the modelled response.

Problem. With ``x`` the spend per period of each channel (money), ``R_sc(x_c)`` the response of
channel ``c`` under posterior draw ``s`` (steady state,
:func:`mmmjax.insights.steady_state_response`, or over a planning horizon, see
:mod:`~mmmjax.optimize.response`) and ``T_s(x) = sum_c R_sc(x_c)``::

    maximise   Phi(T_1(x), ..., T_S(x))
    subject to sum_c x_c = B,   lo_c <= x_c <= hi_c

with ``Phi`` one of

* ``"mean"``: ``mean_s T_s`` (the posterior mean of the total response);
* ``"mean_minus_std"``: ``mean_s T_s - risk * std_s T_s``;
* ``"cvar"``: the mean of the worst ``ceil(cvar_level * S)`` draws of ``T_s``.

Feasibility is exact by construction: every iterate is the projection of a step onto the capped
simplex ``{sum x = B, lo <= x <= hi}``, computed in closed form (the projection is
``clip(y - tau * d, lo, hi)``, piecewise linear in ``tau``; its breakpoints are sorted and the
segment that meets the budget is solved exactly, no penalties and no inner iterations).

The pipeline, one module per step (imports only go down this list):

* :mod:`~mmmjax.optimize.stages`: compiled stages kept on disk, the trace counter, float32 inputs;
* :mod:`~mmmjax.optimize.projection`: the exact projection onto the capped simplex;
* :mod:`~mmmjax.optimize.objectives`: ``Phi`` (mean, mean_minus_std, cvar, smoothed cvar);
* :mod:`~mmmjax.optimize.response`: ``R_sc`` steady state, over a planning horizon or a geo
  split, and its per-channel derivatives;
* :mod:`~mmmjax.optimize.newton`: the optimiser, an optax ``GradientTransformation``
  (:func:`~mmmjax.optimize.newton.projected_diagonal_newton`) and its compiled loop;
* :mod:`~mmmjax.optimize.solver`: every budget at once: table, global warm start, polish over
  all draws;
* :mod:`~mmmjax.optimize.problem`: what is split, bounds and budget checks, one call's problem;
* :mod:`~mmmjax.optimize.plan`: the :class:`Plan` and its summaries;
* :mod:`~mmmjax.optimize.target`: the budget for an ROI or marginal-ROI target;
* :mod:`~mmmjax.optimize.current`: the current split;
* :mod:`~mmmjax.optimize.schedule`: period-by-period plans of the next ``N`` periods;
* :mod:`~mmmjax.optimize.budget`: :func:`optimize_budget` and :func:`budget_frontier`;
* :mod:`~mmmjax.optimize.whatif`: :func:`evaluate_budget`, a split the user wrote.

Example:
    >>> plan = mmmjax.optimize_budget(fit, 50_000, bounds={"tv": (5_000, 20_000)})
    >>> plan.allocation.round()            # money per period, sums to 50,000
    >>> plan.uplift, plan.uplift_interval  # vs the current split, per period
    >>> frontier = mmmjax.budget_frontier(fit, np.linspace(30_000, 80_000, 51))
"""

from mmmjax.optimize.budget import budget_frontier, optimize_budget
from mmmjax.optimize.objectives import OBJECTIVES
from mmmjax.optimize.plan import Plan, plan_to_records
from mmmjax.optimize.problem import BY, BudgetVariables, budget_variables
from mmmjax.optimize.projection import project_capped_simplex
from mmmjax.optimize.response import GeoSplit
from mmmjax.optimize.schedule import optimize_schedule
from mmmjax.optimize.whatif import WhatIf, evaluate_budget

__all__ = [
    "BY",
    "OBJECTIVES",
    "BudgetVariables",
    "GeoSplit",
    "Plan",
    "WhatIf",
    "budget_frontier",
    "budget_variables",
    "evaluate_budget",
    "optimize_budget",
    "optimize_schedule",
    "plan_to_records",
    "project_capped_simplex",
]
