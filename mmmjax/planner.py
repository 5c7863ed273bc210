r"""A self-contained planner page: a slider per channel, a budget field, the answer at once.

:func:`write_planner` writes one HTML file (inline CSS and JavaScript, no network, no CDN) that
recomputes, in the browser, what :func:`mmmjax.evaluate_budget` computes in Python: per channel
and in total the expected response with its 94% interval, ROI and marginal ROI, and the total
against the current mix at the same budget. The page reads tabulated posterior response curves::

    levels[c, g] = top_c * (g / (G - 1))**2         g = 0..G-1 (denser near 0, where curves bend)
    resp[c, s, g] = R_sc(levels[c, g])              (S subsampled draws, money per period)
    dmean[c, g]   = mean_s R'_sc(levels[c, g])      (central differences, step 1e-3 relative)

and interpolates linearly between levels (beyond ``top_c`` it extrapolates the last segment and
says so). A draw's total is ``T_s = sum_c R_sc(x_c)``; means and equal-tailed 94% quantiles
(numpy's "linear" rule) are taken over the ``S`` draws exactly as :func:`evaluate_budget` takes
them over all draws, so with ``draws=None`` the page and :func:`evaluate_budget` differ only by
interpolation (well below 1% on the default grid). The arrays are embedded as little-endian
float32 in base64: ``4 * C * G * (S + 2)`` bytes before encoding (7 channels, 200 draws,
101 levels: 0.76 MB of page).

The page reads ``#spend=a,b,...`` (money per period in channel order) or ``#budget=B`` (the
current mix at ``B``) from its address, so a plan can be bookmarked or shared; each number it
shows carries its unrounded value in a ``data-value`` attribute.

Example:
    >>> mmmjax.write_planner(fit, "planner.html")                 # open it in any browser
    >>> mmmjax.write_planner(fit, "planner.html", draws=None)     # every draw (bigger page)
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mmmjax.files import atomic_write_text
from mmmjax.insights import INTERVAL, INTERVAL_QUANTILES, response_curves
from mmmjax.optimize.current import current_split, national_spend

__all__ = ["planner_data", "render_planner", "write_planner"]

#: Derivative step of the tabulated marginal ROI, relative to the level.
STEP = 1e-3


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def _tops(fit, max_spend: Mapping[str, float] | None) -> np.ndarray:
    """``(C,)`` the largest tabulated level per channel: ``max(3 x mean, 3 x current,
    1.5 x busiest period)`` of the channel's spend (money per period), unless ``max_spend``
    names it."""
    spend = national_spend(fit)
    top = np.maximum.reduce([3 * spend.mean(0), 3 * current_split(fit), 1.5 * spend.max(0)])
    top = np.where(top > 0, top, max(float(top.max()), 1.0))
    channels = list(fit.channels)
    for name, value in (max_spend or {}).items():
        if name not in channels:
            raise ValueError(
                f"max_spend: unknown channel {name!r}; the fit's channels are {', '.join(channels)}"
            )
        v = float(value)
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"max_spend for channel {name!r} must be a positive number, got {v}")
        top[channels.index(name)] = v
    return top


def planner_data(
    fit,
    *,
    draws: int | None = 200,
    levels: int = 101,
    max_spend: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """The tables the planner page computes from (module docstring), as a JSON-able dict.

    Args:
      fit: a :class:`~mmmjax.Fit` or :class:`~mmmjax.GeoFit` (national curves).
      draws: posterior draws kept, evenly spaced over the chains (``None``: all).
      levels: ``G``, tabulated spend levels per channel (>= 3).
      max_spend: ``{channel: money per period}``, the top tabulated level (default: the
        largest of 3x the channel's mean spend, 3x its current spend and 1.5x its busiest
        period). The sliders span 0 to that level; beyond it the page extrapolates and says so.

    Returns:
      ``channels``, ``draws`` (``S``), ``levels`` (``G``), ``top`` ``(C,)``, ``current``
      ``(C,)`` (current split, money per period), ``interval``, ``quantiles``, ``target`` and
      base64 float32 arrays ``resp`` ``(C, S, G)`` and ``dmean`` ``(C, G)``.
    """
    if int(levels) < 3:
        raise ValueError(f"levels must be at least 3, got {levels}")
    G = int(levels)
    top = _tops(fit, max_spend)
    u = np.linspace(0.0, 1.0, G)
    grid = top[None, :] * u[:, None] ** 2  # (G, C)
    h = np.where(grid > 0, STEP * grid, STEP * grid[1])  # forward difference at level 0
    lo = np.where(grid > 0, grid - h, grid)
    hi = grid + h
    r = response_curves(fit, np.concatenate([grid, lo, hi]))  # (S_all, 3G, C)
    r = np.asarray(r, dtype=np.float64)
    S_all = r.shape[0]
    if draws is not None:
        if int(draws) < 1:
            raise ValueError(f"draws must be at least 1, got {draws}")
        keep = np.unique(np.round(np.linspace(0, S_all - 1, min(int(draws), S_all))).astype(int))
        r = r[keep]
    resp, r_lo, r_hi = r[:, :G], r[:, G : 2 * G], r[:, 2 * G :]
    dmean = ((r_hi - r_lo).mean(0) / (hi - lo)).T  # (C, G)
    mix = current_split(fit)
    return {
        "channels": list(fit.channels),
        "draws": int(resp.shape[0]),
        "levels": G,
        "top": top.tolist(),
        "current": mix.tolist(),
        "interval": INTERVAL,
        "quantiles": list(INTERVAL_QUANTILES),
        "target": str(getattr(fit.dataset, "target_name", "target")),
        "resp": _b64(np.transpose(resp, (2, 0, 1))),  # (C, S, G)
        "dmean": _b64(dmean),
    }


def render_planner(fit, **kwargs: Any) -> str:
    """The planner page as one HTML string (``kwargs`` as in :func:`planner_data`)."""
    data = planner_data(fit, **kwargs)
    blob = json.dumps(data).replace("</", "<\\/")  # safe inside <script>
    title = f"mmmjax planner: {html.escape(data['target'])}"
    return (
        _PAGE.replace("__TITLE__", title)
        .replace("__DATA__", blob)
        .replace("__CSS__", _CSS)
        .replace("__JS__", _JS)
    )


def write_planner(fit, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write the planner page for ``fit`` to ``path`` (atomically) and return the path.

    Args:
      fit: a :class:`~mmmjax.Fit` or :class:`~mmmjax.GeoFit` (planned for the nation).
      path: the ``.html`` file to write.
      **kwargs: ``draws`` (default 200), ``levels`` (101), ``max_spend``: see
        :func:`planner_data`.

    Example:
      >>> mmmjax.write_planner(fit, "planner.html")
    """
    return atomic_write_text(Path(path), render_planner(fit, **kwargs))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>__CSS__</style>
</head>
<body>
<h1>__TITLE__</h1>
<p class="note">Money per period. Each channel's spend is sustained every period (steady state,
carryover settled). Numbers are posterior means with equal-tailed <span id="interval"></span>
intervals over <span id="ndraws"></span> posterior draws, computed in this page from tabulated
response curves; nothing is sent anywhere.</p>
<div class="budget">
<label for="budget">Total budget per period</label>
<input type="number" id="budget" min="0" step="any">
<button type="button" id="reset">Current mix at this budget</button>
</div>
<table id="plan">
<thead><tr><th>channel</th><th>spend per period</th><th></th><th>share</th>
<th>expected response</th><th>interval</th><th>ROI</th><th>marginal ROI</th></tr></thead>
<tbody id="rows"></tbody>
<tfoot>
<tr class="total"><th>total</th><td id="total-spend"></td><td></td><td></td>
<td id="total-resp"></td><td><span id="total-low"></span> to <span id="total-high"></span></td>
<td id="total-roi"></td><td></td></tr>
<tr><th>current mix, same budget</th><td></td><td></td><td></td>
<td id="cur-resp"></td><td><span id="cur-low"></span> to <span id="cur-high"></span></td>
<td id="cur-roi"></td><td></td></tr>
<tr><th>this plan vs current mix</th><td></td><td></td><td></td>
<td id="uplift"></td><td><span id="uplift-low"></span> to <span id="uplift-high"></span></td>
<td></td><td></td></tr>
</tfoot>
</table>
<p id="warning" class="warn"></p>
<script type="application/json" id="planner-data">__DATA__</script>
<script>__JS__</script>
</body>
</html>
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.4em; }
.note { color: #555; max-width: 60em; }
.budget { margin: 1em 0; }
.budget input { width: 10em; font-size: 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 0.3em 0.6em; text-align: right; border-bottom: 1px solid #ddd; }
td { white-space: nowrap; }
th:first-child { text-align: left; }
td.slider { width: 28%; }
td.slider input { width: 100%; }
input.spend { width: 7em; }
tr.total td, tr.total th { font-weight: bold; border-top: 2px solid #999; }
.bar { height: 0.5em; background: #4c78a8; opacity: 0.7; }
.warn { color: #b00; }
"""

_JS = r"""
"use strict";
const D = JSON.parse(document.getElementById("planner-data").textContent);
const C = D.channels.length, S = D.draws, G = D.levels;
function f32(b64) {
  const s = atob(b64), u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
  return new Float32Array(u.buffer);
}
const RESP = f32(D.resp), DMEAN = f32(D.dmean);
const spend = D.current.slice();
const $ = (id) => document.getElementById(id);
const money = (v) => isFinite(v) ? Math.round(v).toLocaleString("en-US") : "-";
const ratio = (v) => isFinite(v) ? v.toFixed(3) : "-";
const percent = (v) => isFinite(v) ? v.toFixed(1) + "%" : "-";
function show(id, v, fmt) { const e = $(id); e.dataset.value = String(v); e.textContent = fmt(v); }
function level(c, g) { const u = g / (G - 1); return D.top[c] * u * u; }
// segment and weight of x on channel c's grid (linear; the last segment extrapolates)
function locate(c, x) {
  let g = Math.floor(Math.sqrt(Math.max(x, 0) / D.top[c]) * (G - 1));
  g = Math.min(Math.max(g, 0), G - 2);
  while (g > 0 && level(c, g) > x) g--;
  while (g < G - 2 && level(c, g + 1) < x) g++;
  const x0 = level(c, g), x1 = level(c, g + 1);
  return [g, (x - x0) / (x1 - x0)];
}
// per-draw responses (S x C, channel-major) at an allocation x
function draws(x) {
  const out = new Float64Array(C * S);
  for (let c = 0; c < C; c++) {
    const [g, w] = locate(c, x[c]);
    for (let s = 0; s < S; s++) {
      const k = (c * S + s) * G + g;
      out[c * S + s] = RESP[k] * (1 - w) + RESP[k + 1] * w;
    }
  }
  return out;
}
function quantile(sorted, q) {  // numpy's "linear" rule
  const n = sorted.length, pos = q * (n - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}
function summary(a) {
  let m = 0; for (const v of a) m += v; m /= a.length;
  const s = Float64Array.from(a).sort();
  return [m, quantile(s, D.quantiles[0]), quantile(s, D.quantiles[1])];
}
function totals(r) {
  const t = new Float64Array(S);
  for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) t[s] += r[c * S + s];
  return t;
}
function update() {
  const B = spend.reduce((a, b) => a + b, 0);
  const r = draws(spend);
  const out = [];
  for (let c = 0; c < C; c++) {
    const [m, lo, hi] = summary(r.subarray(c * S, (c + 1) * S));
    const [g, w] = locate(c, spend[c]);
    show("resp-" + c, m, money); show("low-" + c, lo, money); show("high-" + c, hi, money);
    show("roi-" + c, spend[c] > 0 ? m / spend[c] : NaN, ratio);
    show("mroi-" + c, DMEAN[c * G + g] * (1 - w) + DMEAN[c * G + g + 1] * w, ratio);
    show("share-" + c, B > 0 ? 100 * spend[c] / B : NaN, percent);
    $("bar-" + c).style.width = (B > 0 ? 100 * spend[c] / B : 0) + "%";
    if (spend[c] > D.top[c] * (1 + 1e-9)) out.push(D.channels[c]);
  }
  const t = totals(r), [m, lo, hi] = summary(t);
  show("total-spend", B, money); show("total-resp", m, money);
  show("total-low", lo, money); show("total-high", hi, money); show("total-roi", m / B, ratio);
  const mix = D.current.reduce((a, b) => a + b, 0);
  const cur = D.current.map((v) => B * v / mix), tc = totals(draws(cur));
  const [cm, cl, ch] = summary(tc);
  show("cur-resp", cm, money); show("cur-low", cl, money); show("cur-high", ch, money);
  show("cur-roi", cm / B, ratio);
  const [um, ul, uh] = summary(t.map((v, s) => v - tc[s]));
  show("uplift", um, money); show("uplift-low", ul, money); show("uplift-high", uh, money);
  if (document.activeElement !== $("budget")) $("budget").value = String(B);
  $("warning").textContent = out.length ? "Beyond the tabulated spend range (extrapolated): "
    + out.join(", ") : "";
}
function setSpend(c, v, from) {
  spend[c] = Math.max(0, Number(v) || 0);
  if (from !== "slider") $("slider-" + c).value = String(Math.min(spend[c], D.top[c]));
  if (from !== "box") $("spend-" + c).value = String(spend[c]);
}
function setBudget(B, mixOnly) {
  B = Math.max(0, Number(B) || 0);
  const now = spend.reduce((a, b) => a + b, 0);
  const base = mixOnly || now <= 0 ? D.current : spend.slice();
  const tot = base.reduce((a, b) => a + b, 0);
  for (let c = 0; c < C; c++) setSpend(c, B * base[c] / tot, "");
  update();
}
function build() {
  $("interval").textContent = Math.round(100 * D.interval) + "%";
  $("ndraws").textContent = String(S);
  const rows = $("rows");
  for (let c = 0; c < C; c++) {
    const tr = document.createElement("tr");
    const name = document.createElement("th");
    name.textContent = D.channels[c];
    tr.appendChild(name);
    tr.insertAdjacentHTML("beforeend",
      `<td><input type="number" class="spend" id="spend-${c}" min="0" step="any"></td>` +
      `<td class="slider">` +
      `<input type="range" id="slider-${c}" min="0" max="${D.top[c]}" step="any">` +
      `<div class="bar" id="bar-${c}"></div></td><td id="share-${c}"></td>` +
      `<td id="resp-${c}"></td>` +
      `<td><span id="low-${c}"></span> to <span id="high-${c}"></span></td>` +
      `<td id="roi-${c}"></td><td id="mroi-${c}"></td>`);
    rows.appendChild(tr);
  }
  for (let c = 0; c < C; c++) {
    const on = (from) => (e) => { setSpend(c, e.target.value, from); update(); };
    $("slider-" + c).addEventListener("input", on("slider"));
    $("spend-" + c).addEventListener("input", on("box"));
  }
  $("budget").addEventListener("change", (e) => setBudget(e.target.value, false));
  $("reset").addEventListener("click", () => setBudget($("budget").value, true));
}
// #spend=a,b,... (channel order) or #budget=B: moves the sliders as a user would
function fromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.has("spend")) {
    const v = p.get("spend").split(",").map(Number);
    for (let c = 0; c < C && c < v.length; c++) {
      const inRange = v[c] <= D.top[c];
      const el = $((inRange ? "slider-" : "spend-") + c);
      el.value = String(v[c]);
      el.dispatchEvent(new Event("input"));
    }
  } else if (p.has("budget")) {
    $("budget").value = p.get("budget");
    $("budget").dispatchEvent(new Event("change"));
  }
}
build();
for (let c = 0; c < C; c++) setSpend(c, spend[c], "");
update();
fromHash();
window.addEventListener("hashchange", fromHash);
"""
