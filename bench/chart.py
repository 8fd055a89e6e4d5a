#!/usr/bin/env python3
"""bench/chart.py — the chart of a bench/run result: records/s and CPU seconds per million records
of every client, grouped by scenario, one panel per figure and broker (medians, with the lowest
and highest run as error bars).

  chart.py RESULTS.json OUT.svg [OUT.png ...]

RESULTS.json is the data file bench/run writes beside its markdown result; each OUT's format
follows its extension. Needs matplotlib: bench/run runs this script with the venv it makes under
target/bench/venv (`bench/run --chart-only RESULTS.json` redraws a finished run's chart).
"""

import json
import os
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "volley-bench"  # the same data draws the same file
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

# One colour per client, by its place in bench/run's list of clients (Volley first), so that a
# client has the same colour in every chart; more clients than colours wrap around (tab10 has ten).
PALETTE = plt.get_cmap("tab10").colors

FIGURES = [
    # (key in the rows, panel title)
    ("rps", "records/s (higher is better)"),
    ("cpu_per_m", "client CPU s per 1M records (lower is better)"),
]


# (at least, divisor, suffix, format): a value's first row that it reaches
VALUE_STEPS = [(1e6, 1e6, "M", ".2f"), (1e4, 1e3, "k", ".0f"), (1e3, 1e3, "k", ".1f"), (10, 1, "", ".1f"),
               (0, 1, "", ".2f")]  # 1,234,567 → 1.23M, 45,678 → 46k, 4,567 → 4.6k, 26.48 → 26.5, 0.4412 → 0.44
TICK_STEPS = [(1e6, 1e6, "M", "g"), (1e3, 1e3, "k", "g"), (0, 1, "", "g")]  # 10k, 1M, 0.1


def scaled(x, steps):
    for least, divisor, suffix, spec in steps:
        if x >= least:
            return f"{x / divisor:{spec}}{suffix}"
    return ""


def tick_label(x, _pos):
    return scaled(x, TICK_STEPS) if x > 0 else ""


def draw(data, outputs):
    clients = data["clients"]  # [{"id", "name"}], in bench/run's order
    brokers = data["brokers"]  # broker names, in run order
    scenarios = data["scenarios"]  # [{"id", "short", ...}], in run order
    rows = {(r["scenario"], r["broker"], r["client"]): r for r in data["rows"]}
    colour = {c["id"]: PALETTE[c.get("colour", i) % len(PALETTE)] for i, c in enumerate(clients)}

    n = len(clients)
    slot = 1.0 / (n + 1.2)  # bar height; the rest of each scenario's unit is the gap
    height = max(3.0, 0.9 + len(scenarios) * (n + 1.2) * 0.15)
    panels = [(fig, broker) for fig in FIGURES for broker in brokers]
    fig, axes = plt.subplots(1, len(panels), sharey=True, squeeze=False, layout="constrained",
                             figsize=(2.0 + 3.3 * len(panels), height + 1.2))
    axes = axes[0]

    for ax, ((key, label), broker) in zip(axes, panels):
        values = [v for r in data["rows"] if r["broker"] == broker and key in r and r[key] > 0
                  for v in (r[key], *r.get("spread", {}).get(key, []))]
        lo = min(values) if values else 1.0
        hi = max(values) if values else 10.0
        left = 10 ** int(f"{lo:e}".split("e")[1])  # the power of ten at or below the lowest value
        for si, s in enumerate(scenarios):
            here = [(ci, c) for ci, c in enumerate(clients) if (s["id"], broker, c["id"]) in rows]
            if not here:
                ax.text(left * 1.15, si, f"not run on {broker}", va="center", fontsize=7, color="0.45")
                continue
            for ci, c in here:
                r = rows[(s["id"], broker, c["id"])]
                y = si - 0.5 + slot * (ci + 0.6) + slot / 2
                if key not in r or not r[key] or r[key] != r[key]:
                    what = "n/a" if "na" in r else "failed"
                    ax.text(left * 1.15, y, what, va="center", fontsize=6, color="0.35")
                    continue
                med = r[key]
                spread = r.get("spread", {}).get(key)
                xerr = [[med - spread[0]], [spread[1] - med]] if spread and r.get("runs", 1) > 1 else None
                ax.barh(y, med - left, left=left, height=slot * 0.9, color=colour[c["id"]],
                        edgecolor="none")
                if xerr:
                    ax.errorbar(med, y, xerr=xerr, fmt="none", ecolor="0.15", elinewidth=0.7,
                                capsize=1.6, capthick=0.7)
                end = spread[1] if xerr else med
                flag = " ²" if "error" in r else ""
                ax.text(end * 1.08, y, scaled(med, VALUE_STEPS) + flag, va="center", fontsize=5.5, color="0.1")
        ax.set_xscale("log")
        ax.set_xlim(left, hi * 4)
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_major_formatter(FuncFormatter(tick_label))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
        ax.grid(axis="x", which="major", color="0.85", linewidth=0.6)
        ax.grid(axis="x", which="minor", color="0.94", linewidth=0.4)
        ax.set_axisbelow(True)
        ax.set_title(f"{label}\nbroker: {broker}", fontsize=8.5)
        ax.tick_params(axis="x", labelsize=7)
        for si in range(1, len(scenarios)):
            ax.axhline(si - 0.5, color="0.75", linewidth=0.5)

    axes[0].set_yticks(range(len(scenarios)))
    axes[0].set_yticklabels([textwrap.fill(f"{s['id']}. {s['short']}", 22, subsequent_indent="   ")
                             for s in scenarios], fontsize=7.5)
    axes[0].set_ylim(len(scenarios) - 0.5, -0.5)  # scenario 1 at the top
    axes[0].tick_params(axis="y", length=0)

    runs = data.get("repeat", 1)
    how = (f"medians of {runs} runs, error bars from the lowest to the highest run" if runs > 1
           else "one run each")
    # The title as the legend's (a suptitle and an "outside" legend overlap in the constrained layout).
    fig.legend(handles=[Patch(color=colour[c["id"]], label=c["name"]) for c in clients],
               loc="outside upper center", ncol=len(clients), fontsize=8, frameon=False,
               title=f"{data['title']}: {how}; log scales", title_fontsize=10)
    foot = data.get("machine", "")
    if any("error" in r for r in data["rows"]):
        foot += ("; " if foot else "") + "² a run failed or fell short (see the results file)"
    if foot:
        fig.supxlabel(foot, x=0.005, ha="left", fontsize=6.5, color="0.35")
    for out in outputs:
        fig.savefig(out, dpi=130 if out.endswith(".png") else 72, metadata={"Date": None}
                    if out.endswith(".svg") else None)
    plt.close(fig)


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as f:
        data = json.load(f)
    outputs = sys.argv[2:]
    for out in outputs:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    draw(data, outputs)
    for out in outputs:
        print(out)


if __name__ == "__main__":
    main()
