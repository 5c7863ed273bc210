"""Plan next period's media budget from a fitted model: three scenarios side by side.

    python scripts/plan_budget.py path/to/saved_fit --out plans/     # a fit saved with Fit.save
    python scripts/plan_budget.py --quick --out plans/               # fit the demo data quickly

Scenarios (money per period): the current split, the optimal split of the same budget, and the
optimal split of a budget 20% larger. Prints a table and writes ``plan.png`` and ``plans.csv``.
Then a what-if (a plan written by hand: a fifth of the largest channel's spend moved to the
smallest), evaluated with its 94% intervals against the current mix at the same total
(``whatif.csv``), and the planner page ``planner.html`` to try more splits in a browser.

Last, the next 13 weeks period by period: the best flat schedule and free flighting of 13
times today's budget (``schedule.csv``: future dates x channels, money per week; responses over
the 13 weeks and their carryover), and a what-if of a schedule written by hand (the largest
channel's spend moved into the first 4 weeks, ``whatif_schedule.csv``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import mmmjax
from mmmjax.plots import plot_frontier


def main() -> None:
    ap = argparse.ArgumentParser(description="Compare budget scenarios for a fitted MMM.")
    ap.add_argument("fit", nargs="?", type=Path, help="saved fit directory (default: fit demo)")
    ap.add_argument("--quick", action="store_true", help="tiny demo fit (seconds, for smoke tests)")
    ap.add_argument("--out", type=Path, default=Path("plan_output"))
    args = ap.parse_args()

    if args.fit is not None:
        fit = mmmjax.load_fit(args.fit)
    else:
        n, chains = (50, 1) if args.quick else (1000, 4)
        data = mmmjax.datasets.load("demo")
        fit = mmmjax.MMM().fit(data, chains=chains, draws=n, warmup=n, progress=False, warn=False)

    budget = float(fit.scales.spend.sum())  # what is spent per period today
    same = mmmjax.optimize_budget(fit, budget)
    more = mmmjax.optimize_budget(fit, 1.2 * budget)

    table = pd.DataFrame(
        {
            "current": same.current_allocation,
            "optimal": same.allocation,
            "optimal +20%": more.allocation,
        }
    )
    table.loc["TOTAL SPEND"] = table.sum()
    table.loc["RESPONSE"] = [same.current_response, same.expected_response, more.expected_response]
    low = [same.current_interval[0], same.response_interval[0], more.response_interval[0]]
    high = [same.current_interval[1], same.response_interval[1], more.response_interval[1]]
    table.loc["response 3%"], table.loc["response 97%"] = low, high
    print(table.round(0).to_string())
    lo, hi = same.uplift_interval
    print(f"\nuplift, same budget: {same.uplift:+,.0f} per period (94%: {lo:+,.0f} to {hi:+,.0f})")

    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "plans.csv")
    same.plot().savefig(args.out / "plan.png", dpi=100)
    frontier = mmmjax.budget_frontier(fit, budget * pd.Series(range(5, 21)).to_numpy() / 10)
    plot_frontier(frontier).savefig(args.out / "frontier.png", dpi=100)
    print(f"wrote {args.out / 'plans.csv'}, {args.out / 'plan.png'}, {args.out / 'frontier.png'}")

    # what-if: my own plan, with uncertainty, against the current mix at the same total
    mine = same.current_allocation.copy()
    big, small = mine.idxmax(), mine.idxmin()
    mine[big], mine[small] = 0.8 * mine[big], mine[small] + 0.2 * mine[big]
    what = mmmjax.evaluate_budget(fit, mine)
    cols = ["current", "plan", "response", "response_low", "response_high", "roi", "marginal_roi"]
    print(f"\nwhat-if: move 20% of {big} to {small}")
    print(what.to_frame()[cols].round(2).to_string())
    lo, hi = what.response_interval
    ulo, uhi = what.uplift_interval
    print(
        f"response {what.expected_response:,.0f} per period (94%: {lo:,.0f} to {hi:,.0f}), "
        f"ROI {what.roi:.2f}; vs the current mix {what.uplift:+,.0f} (94%: {ulo:+,.0f} to "
        f"{uhi:+,.0f})"
    )
    what.to_frame().to_csv(args.out / "whatif.csv")
    page = mmmjax.write_planner(fit, args.out / "planner.html")
    print(f"wrote {args.out / 'whatif.csv'} and {page} (open it in a browser)")

    # how much can be spent while the expected ROI stays at 80% of today's optimal split's?
    target = round(0.8 * same.expected_response / same.total_budget, 2)
    by_roi = mmmjax.optimize_budget(fit, target_roi=target)
    print(
        f"\ntarget ROI {target:g}: spend up to {by_roi.total_budget:,.0f} per period "
        f"({by_roi.total_budget / budget:.2f}x today), expected ROI {by_roi.target_value:.2f}, "
        f"response {by_roi.expected_response:,.0f} per period"
    )
    print(by_roi.allocation.round(0).to_string())
    try:  # the break-even budget: where the next unit of money returns just 1.0
        by_mroi = mmmjax.optimize_budget(fit, target_mroi=1.0)
        print(f"break-even (next unit returns 1.0): {by_mroi.total_budget:,.0f} per period")
    except ValueError as exc:  # no budget reaches it, or it still holds at 100x today
        print(f"break-even: {exc}")

    # the next 13 weeks, period by period (the budget is over the 13 weeks)
    weeks = 13
    flat = mmmjax.optimize_budget(fit, weeks * budget, periods=weeks)
    free = mmmjax.optimize_budget(fit, weeks * budget, periods=weeks, schedule="free")
    print(f"\nnext {weeks} weeks, free flighting (money per week):")
    print(free.schedule.round(0).to_string())
    lo, hi = free.response_interval
    print(
        f"response over the {weeks} weeks and their carryover: free {free.expected_response:,.0f}"
        f" (94%: {lo:,.0f} to {hi:,.0f}), flat {flat.expected_response:,.0f}"
    )
    free.schedule.to_csv(args.out / "schedule.csv")

    # what-if of a schedule written by hand: the largest channel front-loaded into 4 weeks
    mine = pd.DataFrame([same.current_allocation] * weeks, index=free.schedule.index)
    mine[big] = [3 * mine[big].iloc[0]] * 4 + [mine[big].iloc[0] / 9] * (weeks - 4)
    what = mmmjax.evaluate_budget(fit, mine)
    lo, hi = what.response_interval
    ulo, uhi = what.uplift_interval
    print(
        f"\nwhat-if schedule: {big} front-loaded into the first 4 weeks -> response "
        f"{what.expected_response:,.0f} over the {weeks} weeks and their carryover (94%: "
        f"{lo:,.0f} to {hi:,.0f}); vs the current mix spread flat {what.uplift:+,.0f} (94%: "
        f"{ulo:+,.0f} to {uhi:+,.0f})"
    )
    what.to_frame().to_csv(args.out / "whatif_schedule.csv")
    print(f"wrote {args.out / 'schedule.csv'} and {args.out / 'whatif_schedule.csv'}")


if __name__ == "__main__":
    main()
