"""PNG plots of benchmark entries (matplotlib, Agg backend): the latency percentile spectrum per
offered rate, and achieved vs offered rate. Entries opt in with extra keys:
  spectrum_us   [[percentile, latency_us], ...] and offered_rate (orders/s)  -> latency_spectrum.png
  offered_rate and achieved_rate (orders/s)                                   -> throughput.png
  baseline_spectrum_us / baseline_achieved_rate add the in-run baseline (dashed, one per baseline).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


def write_plots(entries: list[dict], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    spectra = [e for e in entries if e.get("spectrum_us") and e.get("offered_rate")]
    if spectra:
        written.append(_spectrum(spectra, out_dir / "latency_spectrum.png"))
    rates = [e for e in entries if e.get("offered_rate") and e.get("achieved_rate") is not None]
    if rates:
        written.append(_throughput(rates, out_dir / "throughput.png"))
    return written


def _spectrum(entries: list[dict], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    drawn: set[str] = set()  # a server measured once may be the figure of one entry, baseline of another
    for e in entries:
        rate = f" at {e['offered_rate']:,}/s"
        lines = [(e.get("series", e["name"]) + rate, e["spectrum_us"], "-")]
        if e.get("baseline_spectrum_us"):
            base = e.get("baseline_series", e["baseline_name"])
            lines.append((base + rate, e["baseline_spectrum_us"], "--"))
        for label, spectrum, style in lines:
            if label not in drawn:
                drawn.add(label)
                _spectrum_line(ax, spectrum, label, style)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [50.0, 90.0, 99.0, 99.9, 99.99]
    ax.set_xticks([1.0 / (1.0 - p / 100.0) for p in ticks], [f"p{p:g}" for p in ticks])
    ax.set_ylabel("order-to-ack latency (us, from intended send time)")
    ax.set_title("Latency percentile spectrum per offered rate")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _spectrum_line(ax, spectrum: list, label: str, style: str) -> None:
    points = [(p, us) for p, us in spectrum if p < 100.0]
    # HdrHistogram convention: x = 1 / (1 - percentile), so the tail gets the room it needs.
    ax.plot([1.0 / (1.0 - p / 100.0) for p, _ in points], [us for _, us in points], style, marker="o",
            label=label)


def _throughput(entries: list[dict], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 5))
    series: dict[str, list[tuple[float, float]]] = {}
    for e in entries:
        mine = series.setdefault(e.get("series", e["name"]), [])
        if (e["offered_rate"], e["achieved_rate"]) not in mine:
            mine.append((e["offered_rate"], e["achieved_rate"]))
        if e.get("baseline_achieved_rate") is not None:
            point = (e["offered_rate"], e["baseline_achieved_rate"])
            base = series.setdefault(e.get("baseline_series", e["baseline_name"]), [])
            if point not in base:
                base.append(point)
    for label, points in series.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    top = max(max(p[0] for p in pts) for pts in series.values())
    ax.plot([0, top], [0, top], linestyle=":", color="grey", label="achieved = offered")
    ax.set_xlabel("offered orders/s")
    ax.set_ylabel("acked orders/s")
    ax.set_title("Throughput vs offered rate")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
