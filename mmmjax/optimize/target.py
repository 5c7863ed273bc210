r"""Budget for a target: the largest budget whose optimal plan still meets an ROI or marginal-ROI
target.

With ``V(B)`` the expected total response (money per period) of the optimal split of budget
``B`` (:func:`mmmjax.optimize_budget`) and ``lambda(B)`` the marginal return at that optimum
(the Lagrange multiplier ``dPhi/dB``: the common marginal return of channels strictly inside
their bounds, money per money; see :func:`marginal_return`)::

    target_roi  = r:  B* = max { B in [B_lo, B_hi] : ROI(B) = V(B) / B >= r }
    target_mroi = m:  B* = max { B in [B_lo, B_hi] : lambda(B) >= m }

With concave response curves both ``ROI`` and ``lambda`` fall as the budget grows, so the set
is an interval ``[B_lo, B*]``; with S-shaped curves ``ROI`` can first rise, and the answer is the
*largest* budget meeting the target. The search range (money per period):

* ``B_lo = max(sum of the lower bounds, LOW_FRACTION x current total spend)`` (a small positive
  budget the bounds allow);
* ``B_hi = `` the sum of the upper bounds when every channel has one (a *cap*), else
  ``HIGH_MULTIPLE x current total spend``.

Search (:func:`find_budget`): the metric is evaluated on ``GRID_POINTS`` log-spaced budgets in
``[B_lo, B_hi]``, in batches of ``BATCH`` consecutive budgets (each batch one batched solve of
the optimizer, whose tabulated warm start spans the batch's budgets: a narrow batch keeps it
accurate for its smallest budget); the last grid budget meeting the target and the next one
bracket ``B*``. The bracket is then cut into ``BATCH + 1`` equal parts per batched solve, keeping
the last part point meeting the target and the next one, until it is ``rtol`` wide (relative;
``1e-5`` by default: four or five solves). The lower end of the final bracket is returned, so
the metric there meets the target (up to the solver's float32 rounding, about ``1e-6``
relative). If the target still holds at ``B_hi``, that is the answer when ``B_hi`` is a cap
(``TargetBudget.at_cap``); with no cap a :class:`ValueError` names the target and ``B_hi``. If
no grid budget meets it, a :class:`ValueError` gives the best value seen and its budget.

The search only needs ``evaluate(budgets (N,)) -> (expected_response (N,), marginal_return
(N,))``, so any planner that solves many budgets at once can use it.

Example:
    >>> plan = mmmjax.optimize_budget(fit, target_roi=1.5)   # the largest budget at ROI >= 1.5
    >>> plan.total_budget, plan.target_value                 # ... and its ROI (1.5 or above)
    >>> plan = mmmjax.optimize_budget(fit, target_mroi=1.0)  # spend while a unit returns >= 1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "BATCH",
    "GRID_POINTS",
    "HIGH_MULTIPLE",
    "KINDS",
    "LOW_FRACTION",
    "TargetBudget",
    "budget_source",
    "find_budget",
    "marginal_return",
    "search_range",
]

#: The targets a budget can be found for, by ``optimize_budget``'s keyword.
KINDS = ("target_roi", "target_mroi")
#: Log-spaced budgets of the first scan, and budgets per batched solve (the optimizer pads
#: batches to powers of two up to 8, so a batch of 8 reuses one compiled program throughout).
GRID_POINTS, BATCH = 32, 8
#: Search range without bounds that set it: from LOW_FRACTION to HIGH_MULTIPLE times the
#: current total spend per period.
LOW_FRACTION, HIGH_MULTIPLE = 1e-3, 100.0
#: Refinement rounds at most (each cuts the bracket by BATCH + 1).
MAX_ROUNDS = 12

_WHAT = {"target_roi": "expected ROI", "target_mroi": "marginal return"}


class TargetBudget(NamedTuple):
    """The budget :func:`find_budget` found.

    Attributes:
      budget: ``B*``, money per period.
      value: the metric at ``budget`` (``V(B) / B`` or ``lambda(B)``), money per money.
      at_cap: the target still held at the cap (the sum of the upper bounds), so ``budget`` is
        that cap, not where the target binds.
      bracket: ``(low, high)``: the metric meets the target at ``low`` (= ``budget``) and not at
        ``high`` (``(budget, budget)`` at the cap).
      evaluations: budgets solved in the search.
    """

    budget: float
    value: float
    at_cap: bool
    bracket: tuple[float, float]
    evaluations: int


def budget_source(
    total_budget: float | None, target_roi: float | None, target_mroi: float | None
) -> tuple[str, float | None]:
    """Which of ``optimize_budget``'s ``total_budget``, ``target_roi`` and ``target_mroi`` sets
    the budget: ``(name, target)`` (``target`` ``None`` for a given budget).

    Raises:
      ValueError: not exactly one of them given, or a target that is not a positive number.

    Example:
      >>> budget_source(None, 1.5, None)
      ('target_roi', 1.5)
    """
    values = (total_budget, target_roi, target_mroi)
    names = ("total_budget", *KINDS)
    given = {n: v for n, v in zip(names, values, strict=True) if v is not None}
    if len(given) != 1:
        said = "got " + (" and ".join(given) if given else "none")
        raise ValueError(f"give exactly one of total_budget, target_roi and target_mroi ({said})")
    ((name, value),) = given.items()
    if name == "total_budget":
        return name, None
    try:
        target = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not np.isfinite(target) or target <= 0:
        raise ValueError(f"{name} must be a positive number (money per money), got {value!r}")
    return name, target


def marginal_return(
    x: np.ndarray, grad: np.ndarray, lo: np.ndarray, hi: np.ndarray, budget: np.ndarray
) -> np.ndarray:
    r"""The marginal return of the budget at optimal splits: ``dPhi*/dB``, money per money.

    At an optimum of ``Phi`` over ``{sum x = B, lo <= x <= hi}`` the KKT conditions give one
    multiplier ``lambda`` with ``g_c = lambda`` for channels strictly inside their bounds,
    ``g_c <= lambda`` at a lower bound and ``g_c >= lambda`` at an upper one (``g = dPhi/dx``),
    and ``lambda`` is the derivative of the optimal value in ``B``. So::

        some channel inside:  lambda = mean of g_c over the channels inside
        none inside:          max of g_c over channels below their upper bound
                              (the next unit's return: the right derivative)
        all at upper bounds:  min of g_c over channels above their lower bound
                              (the last unit's return: the left derivative, at the cap)

    "Inside" and "at a bound" are judged to ``1e-6 x B`` against the bounds themselves: a
    channel that takes the whole budget is inside unless its upper bound is that budget.

    Args:
      x: ``(N, C)`` optimal spend per period (money), one row per budget.
      grad: ``(N, C)`` ``dPhi/dx`` there (money per money).
      lo, hi: ``(C,)`` or ``(N, C)`` bounds (``hi`` may be ``inf``).
      budget: ``(N,)`` the budgets.

    Returns:
      ``(N,)`` the marginal return (NaN only where ``grad`` is).

    Example:
      >>> marginal_return(np.array([[3.0, 1.0]]), np.array([[0.5, 0.5]]), 0, np.inf, [4.0])
      array([0.5])
    """
    x, grad = np.asarray(x, np.float64), np.asarray(grad, np.float64)
    margin = 1e-6 * np.asarray(budget, np.float64)[:, None]
    can_grow, can_shrink = hi - x > margin, x - lo > margin
    inside = can_grow & can_shrink
    n_in = inside.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in = np.where(inside, grad, 0.0).sum(-1) / n_in
    grow = np.where(can_grow, grad, -np.inf).max(-1)
    shrink = np.where(can_shrink, grad, np.inf).min(-1)
    edge = np.where(can_grow.any(-1), grow, np.where(can_shrink.any(-1), shrink, np.nan))
    return np.where(n_in > 0, mean_in, edge)


def search_range(lower_sum: float, upper_sum: float, reference: float) -> tuple[float, float, bool]:
    """``(B_lo, B_hi, capped)`` of the search (module docstring), money per period.

    Args:
      lower_sum: sum of the lower bounds (fixed spend included).
      upper_sum: sum of the upper bounds (``inf`` if a channel has none).
      reference: current total spend per period (> 0).

    Example:
      >>> search_range(0.0, np.inf, 1000.0)
      (1.0, 100000.0, False)
    """
    capped = bool(np.isfinite(upper_sum))
    high = float(upper_sum) if capped else HIGH_MULTIPLE * reference
    low = min(max(float(lower_sum), LOW_FRACTION * reference), high)
    return low, high, capped


def _metric(evaluate: Callable, kind: str, budgets: np.ndarray) -> np.ndarray:
    """The metric at ``budgets (N,)`` (sorted), solved in batches of ``BATCH`` neighbours."""
    out = []
    for start in range(0, len(budgets), BATCH):
        b = budgets[start : start + BATCH]
        response, marginal = (np.asarray(a, np.float64) for a in evaluate(b))
        out.append(response / b if kind == "target_roi" else marginal)
    return np.concatenate(out)


def find_budget(
    evaluate: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    kind: str,
    target: float,
    low: float,
    high: float,
    *,
    capped: bool,
    rtol: float = 1e-5,
) -> TargetBudget:
    r"""The largest budget in ``[low, high]`` whose optimal plan meets ``target`` (module
    docstring: grid scan, then batched bracketing).

    Args:
      evaluate: ``budgets (N,) -> (expected_response (N,), marginal_return (N,))`` of the
        optimal plans (money per period and money per money), e.g. one batched optimizer call.
      kind: ``"target_roi"`` (metric ``expected_response / budget``) or ``"target_mroi"``
        (metric ``marginal_return``).
      target: the metric's least acceptable value (money per money).
      low, high: the search range, money per period (:func:`search_range`).
      capped: ``high`` is a cap the bounds impose (return it if the target still holds there)
        rather than the end of the search.
      rtol: width of the final bracket, relative to its lower end.

    Returns:
      A :class:`TargetBudget`.

    Raises:
      ValueError: one line: ``kind`` unknown; no budget in the range meets the target (with
        the best value seen and its budget); with no cap, the target still holds at ``high``.

    Example:
      >>> curve = lambda b: (10 * np.sqrt(b), 5 / np.sqrt(b))  # ROI 10 / sqrt(b), mROI half
      >>> find_budget(curve, "target_roi", 2.0, 1.0, 1e4, capped=False).budget  # about 25
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    what = _WHAT[kind]
    grid = np.geomspace(low, high, GRID_POINTS) if high > low else np.array([float(high)])
    value = _metric(evaluate, kind, grid)
    ok = value >= target  # NaN: not met
    evaluations = len(grid)
    if not ok.any():
        finite = np.where(np.isfinite(value), value, -np.inf)
        best = int(np.argmax(finite))
        raise ValueError(
            f"{kind} {target:g} is not reachable: the best {what} of an optimal plan is "
            f"{value[best]:.4g}, at a budget of {grid[best]:,.6g} per period (searched "
            f"{low:,.6g} to {high:,.6g} per period)"
        )
    last = int(np.flatnonzero(ok)[-1])
    if last == len(grid) - 1:
        if capped:
            b = float(grid[-1])
            return TargetBudget(b, float(value[-1]), True, (b, b), evaluations)
        raise ValueError(
            f"{kind} {target:g} still holds at a budget of {high:,.6g} per period "
            f"({HIGH_MULTIPLE:g}x the current total spend, the largest tried; {what} there "
            f"{value[-1]:.4g}): give every channel an upper bound, or a higher target"
        )
    a, b, at_a = float(grid[last]), float(grid[last + 1]), float(value[last])
    for _ in range(MAX_ROUNDS):
        if b - a <= rtol * a:
            break
        points = np.linspace(a, b, BATCH + 2)[1:-1]
        v = _metric(evaluate, kind, points)
        evaluations += len(points)
        met = np.flatnonzero(v >= target)
        if met.size == 0:
            b = float(points[0])
            continue
        j = int(met[-1])
        a, at_a = float(points[j]), float(v[j])
        b = float(points[j + 1]) if j + 1 < len(points) else b
    return TargetBudget(a, at_a, False, (a, b), evaluations)
