"""Regenerate the embedded demo data set: mmmjax/datasets/demo.csv and demo_truth.json.

Run from the repository root::

    python scripts/make_demo_dataset.py          # writes the two files
    python scripts/make_demo_dataset.py --check  # fails if the committed files are stale

``--check`` compares the CSV exactly and the truth's numbers to 1e-12 relative, 1e-9 absolute (the
simulator evaluates the model's mean function in float64, whose rounding may differ from the
code that wrote the shipped truth in the last digits; every draw, the spend and the target are
the same).

The demo is three years of weekly data (156 weeks) for five channels with realistic money
scales and spend patterns (TV and radio flighted, digital always-on, spend sharing a common
factor), two controls and a revenue target, drawn by :func:`mmmjax.simulate` with geometric
adstock and Hill saturation (what ``MMM()`` fits by default). True carryover rates are moderate
(0.25-0.6), Hill slopes 1.2-2 and half-saturation points at 0.9-1.3x each channel's mean spend,
so a 156-week fit can recover them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mmmjax.datasets as datasets
from mmmjax.simulation import simulate

OUT = Path(__file__).resolve().parents[1] / "mmmjax" / "datasets"
SEED = 2024

CHANNELS = ["tv", "search", "social", "display", "radio"]
SETTINGS = dict(
    n_periods=156,
    n_channels=5,
    freq="W",
    start="2021-01-03",
    adstock="geometric",
    saturation="hill",
    channel_names=CHANNELS,
    # nominal mean weekly spend, money
    spend_levels=[25_000.0, 15_000.0, 8_000.0, 5_000.0, 4_000.0],
    spend_pattern=["flighted", "always_on", "always_on", "always_on", "flighted"],
    correlation=0.4,
    # true ROIs: clearly different channels (search best, display worst)
    roi=[1.4, 4.0, 2.2, 0.6, 1.0],
    # carryover: TV longest, search shortest
    adstock_params={"alpha": [0.6, 0.25, 0.4, 0.5, 0.45]},
    media_share=0.3,
    trend="linear",
    seasonality=2,
    n_controls=2,
    n_events=0,
    noise=0.05,
    seed=SEED,
)


def _dump(d: dict) -> str:
    """JSON with one top-level key per line (params indented), lists kept on one line."""
    lines = []
    for key, value in d.items():
        if key == "params":
            inner = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            lines.append(f"{json.dumps(key)}: {{\n{inner}\n }}")
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


# Hill slopes, and half-saturation points as multiples of each channel's mean weekly spend
SLOPE = [1.8, 1.2, 1.5, 2.0, 1.4]
HALF_SATURATION_X_MEAN = [1.0, 1.3, 0.9, 1.1, 1.2]


def build() -> tuple[str, str]:
    # The spend draws do not depend on the saturation parameters, so a first pass gives the
    # mean spend that the half-saturation points (in money) are set relative to.
    _, first = simulate(**SETTINGS)
    half = [f * m for f, m in zip(HALF_SATURATION_X_MEAN, first.spend_mean, strict=True)]
    saturation_params = {"half_saturation": half, "slope": SLOPE}
    dataset, truth = simulate(**SETTINGS, saturation_params=saturation_params)
    assert (dataset.spend.mean(axis=0) == first.spend_mean.to_numpy()).all()
    csv = dataset.to_frame().to_csv(index=False, date_format="%Y-%m-%d", lineterminator="\n")
    meta = {
        "columns": {
            "date": dataset.date_name,
            "target": dataset.target_name,
            "channels": dataset.channels,
            "controls": dataset.control_names,
            "events": dataset.event_names,
        },
        "generator": {"script": "scripts/make_demo_dataset.py", "seed": SEED},
        **truth.to_dict(),
    }
    return csv, _dump(meta)


def _close(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(u, v) for u, v in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return abs(a - b) <= 1e-12 * max(abs(a), abs(b)) + 1e-9  # 1e-9 money: the noise
    return a == b


def _same(committed: str, built: str) -> bool:
    if committed == built:
        return True
    try:
        return _close(json.loads(committed), json.loads(built))
    except json.JSONDecodeError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files")
    parser.add_argument("--out", type=Path, default=OUT, help="write here instead of the package")
    args = parser.parse_args(argv)
    csv, truth = build()
    out = args.out if not args.check else OUT
    out.mkdir(parents=True, exist_ok=True)
    targets = {out / "demo.csv": csv, out / "demo_truth.json": truth}
    if args.check:
        stale = [p.name for p, text in targets.items() if not _same(p.read_text(), text)]
        if stale:
            print(f"stale: {', '.join(stale)}; run scripts/make_demo_dataset.py", file=sys.stderr)
            return 1
        return 0
    for path, text in targets.items():
        path.write_text(text)
    if out != OUT:
        return 0
    ds, tr = datasets.load("demo", with_truth=True)
    print(ds)
    print("true ROI:", tr.roi.round(3).to_dict())
    print("true mROI:", tr.mroi.round(3).to_dict())
    hs = tr.params["half_saturation"] / tr.spend_mean.to_numpy()
    for label, values in (
        ("alpha", tr.params["alpha"]),
        ("slope", tr.params["slope"]),
        ("half_saturation / mean spend", hs),
        ("mean weekly spend", tr.spend_mean.to_numpy()),
    ):
        print(
            f"{label}:", {c: round(float(v), 3) for c, v in zip(ds.channels, values, strict=True)}
        )
    share = tr.contributions.to_numpy().sum() / ds.target.sum()
    print(f"media share of revenue: {share:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
