"""Results: records, the JSON file, the terminal table and the PNG chart.

JSON schema (``bench/results/<date>.json``)::

    {
      "schema": 1,
      "meta": {"started": ISO time, "wall_s": float, "host": {...}, "options": {...}, ...},
      "benchmarks": [
        {
          "name": "failover_v3_50ms",          # stable identifier (--only matches it)
          "title": "failover on link loss, VRRPv3 advert_int 0.05",
          "unit": "ms",
          "vipkeeper":  {"samples": [...], "n": int, "median": x, "p90": x, "p99": x, "min": x, "max": x},
          "keepalived": {... same ...} or null,
          "ratio": vipkeeper median / keepalived median (null without both),
          "goal": "what the issue asks, in words",
          "goal_met": true | false | null (null: no goal, or not measurable),
          "details": {...}                      # per-benchmark extras (limits, counts, problems)
        }, ...
      ]
    }
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from bench.common import summary

SCHEMA_VERSION = 1


def make_record(
    name: str,
    title: str,
    unit: str,
    vk: list[float] | None,
    ka: list[float] | None,
    *,
    goal: str,
    goal_met: bool | None,
    details: dict | None = None,
    ndigits: int = 3,
) -> dict:
    s_vk = summary(vk, ndigits) if vk is not None else None
    s_ka = summary(ka, ndigits) if ka is not None else None
    ratio = None
    if s_vk and s_ka and s_vk["median"] is not None and s_ka["median"]:
        ratio = round(s_vk["median"] / s_ka["median"], 4)
    return {
        "name": name,
        "title": title,
        "unit": unit,
        "vipkeeper": s_vk,
        "keepalived": s_ka,
        "ratio": ratio,
        "goal": goal,
        "goal_met": goal_met,
        "details": details or {},
    }


def unavailable_record(name: str, title: str, why: str) -> dict:
    return {
        "name": name,
        "title": title,
        "unit": "",
        "vipkeeper": None,
        "keepalived": None,
        "ratio": None,
        "goal": "",
        "goal_met": None,
        "details": {"status": why},
    }


def results_path(out_dir: Path, date: str, suffix: str) -> Path:
    """``<date><suffix>``, or ``<date>-2<suffix>``... if a run already wrote that file today."""
    path = out_dir / f"{date}{suffix}"
    n = 2
    while path.exists():
        path = out_dir / f"{date}-{n}{suffix}"
        n += 1
    return path


def write_json(doc: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


# ------------------------------------------------------------------ table
def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "-"
    return f"{a / b:.3f}"


FIGURES = ("median", "p90", "p99", "min", "max")


def render_table(records: list[dict]) -> str:
    w_name = max([len("benchmark")] + [len(r["title"]) + len(r["unit"]) + 3 for r in records])
    w_name = min(w_name, 66)
    head = f"{'benchmark':<{w_name}}  {'figure':<7} {'vipkeeper':>10} {'keepalived':>10} {'ratio':>7}"
    lines = [head, "-" * len(head)]
    for r in records:
        label = f"{r['title']} ({r['unit']})" if r["unit"] else r["title"]
        vk, ka = r.get("vipkeeper"), r.get("keepalived")
        if vk is None and ka is None:
            lines.append(f"{label[:w_name]:<{w_name}}  {r['details'].get('status', 'not run')}")
            lines.append("")
            continue
        n_vk = vk["n"] if vk else 0
        n_ka = ka["n"] if ka else 0
        for i, fig in enumerate(FIGURES):
            a = vk.get(fig) if vk else None
            b = ka.get(fig) if ka else None
            name = label if i == 0 else (f"  n = {n_vk} / {n_ka}" if i == 1 else "")
            lines.append(f"{name[:w_name]:<{w_name}}  {fig:<7} {_fmt(a):>10} {_fmt(b):>10} {_ratio(a, b):>7}")
        met = r.get("goal_met")
        verdict = "MET" if met else ("MISSED" if met is False else "n/a")
        if r.get("goal"):
            lines.append(f"  goal: {r['goal']}  -> {verdict}")
        for p in r["details"].get("problems", []):
            lines.append(f"  problem: {p}")
        for note in r["details"].get("notes", []):
            lines.append(f"  note: {note}")
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------ chart
def write_png(records: list[dict], path: Path, title: str) -> bool:
    """One panel per benchmark: box plots (whiskers at p1/p99) and the samples themselves."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rec = [r for r in records if (r.get("vipkeeper") or r.get("keepalived"))]
    if not rec:
        return False
    cols = 4
    rows = math.ceil(len(rec) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    colors = {"vipkeeper": "#1f77b4", "keepalived": "#d62728"}
    for ax, r in zip(axes.flat, rec):
        data, labels, cols_ = [], [], []
        for kind in ("vipkeeper", "keepalived"):
            s = r.get(kind)
            if s and s["samples"]:
                data.append(s["samples"])
                labels.append(kind)
                cols_.append(colors[kind])
        if not data:
            ax.set_visible(False)
            continue
        bp = ax.boxplot(data, whis=(1, 99), showfliers=False, widths=0.5, patch_artist=True)
        for patch, c in zip(bp["boxes"], cols_):
            patch.set_facecolor(c)
            patch.set_alpha(0.25)
        ax.set_xticks(range(1, len(labels) + 1), labels)
        for i, (xs, c) in enumerate(zip(data, cols_), start=1):
            step = max(1, len(xs) // 400)
            pts = xs[::step]
            jit = [i + 0.18 * (((k * 7919) % 100) / 100 - 0.5) for k in range(len(pts))]
            ax.scatter(jit, pts, s=6, color=c, alpha=0.6, linewidths=0)
        for key, style in (("limit_ms", "--"), ("limit", "--")):
            lim = r["details"].get(key)
            if isinstance(lim, (int, float)):
                ax.axhline(lim, color="gray", linestyle=style, linewidth=0.8)
        ratio = f"  ratio {r['ratio']:.3f}" if r.get("ratio") else ""
        ax.set_title(f"{r['title']}\n{r['unit']}{ratio}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(rec) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
