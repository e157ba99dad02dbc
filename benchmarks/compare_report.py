"""Turns conv_layer_bench's JSON (medians) and peak_flops' output into a markdown table and a
bar chart: convlayer and oneDNN GFLOP/s per configuration, their ratio, and % of measured peak."""
import json
import math
import re
import sys
from collections import defaultdict

SUITE = ["alexnet_conv1", "vgg_conv1_2", "vgg_conv3_2", "vgg_conv5_2", "resnet_1x1_a", "resnet_1x1_b",
         "resnet_3x3_s2", "mnist_conv1", "mnist_conv2"]
PASSES = ["fwd", "bwd_data", "bwd_weights"]


def load(bench_json, peak_txt):
    peak = {int(m.group(1)): float(m.group(2))
            for m in re.finditer(r"threads=(\d+) gflops=([\d.]+)", open(peak_txt).read())}
    rates = defaultdict(dict)  # (layer, N, pass, threads) -> {lib: gflops}
    for b in json.load(open(bench_json))["benchmarks"]:
        if b.get("aggregate_name", "median") != "median" or "GFLOPS" not in b:
            continue
        m = re.match(r"BM_(\w+)/layer:(\d+)/N:(\d+)/pass:(\d)/threads:(\d)", b.get("run_name", b["name"]))
        lib, layer, n, p, t = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))
        rates[(layer, n, p, t)][lib] = b["GFLOPS"] / 1e9 if b["GFLOPS"] > 1e6 else b["GFLOPS"]
    return peak, rates


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def table(peak, rates):
    lines = ["| layer | N | pass | threads | convlayer GFLOP/s | oneDNN GFLOP/s | ratio | convlayer % of peak |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    ratios = defaultdict(list)  # (pass, threads) -> [(ratio, configuration)]
    for (layer, n, p, t), r in sorted(rates.items(), key=lambda kv: (kv[0][3], kv[0][2], kv[0][0], kv[0][1])):
        c, o = r.get("convlayer"), r.get("onednn")
        ratio = c / o if c and o else None
        if ratio:
            ratios[(PASSES[p], t)].append((ratio, f"{SUITE[layer]} N={n}"))
        lines.append(f"| {SUITE[layer]} | {n} | {PASSES[p]} | {t} | {c:.0f} | "
                     f"{'%.0f' % o if o else '-'} | {'%.2f' % ratio if ratio else '-'} | "
                     f"{100 * c / peak.get(t, float('nan')):.0f}% |")
    summary = ["| pass | threads | geometric mean convlayer/oneDNN | N=1 | N=8 | worst | below 0.8 |",
               "| --- | --- | --- | --- | --- | --- | --- |"]
    for (p, t), rs in sorted(ratios.items()):
        worst = min(rs)
        below = sum(1 for r, _ in rs if r < 0.8)
        by_n = [geomean([r for r, name in rs if name.endswith(f"N={n}")]) for n in (1, 8)]
        summary.append(f"| {p} | {t} | {geomean([r for r, _ in rs]):.2f} | {by_n[0]:.2f} | {by_n[1]:.2f} | "
                       f"{worst[0]:.2f} ({worst[1]}) | {below} of {len(rs)} |")
    peak_line = ", ".join(f"{v:.0f} GFLOP/s on {k} thread{'s' if k > 1 else ''}" for k, v in sorted(peak.items()))
    return (f"Measured peak (FMA loop): {peak_line}.\n\n" + "\n".join(summary) + "\n\n" + near_peak(peak, rates) +
            "\n\n" + scaling(rates) + "\n\n" + "\n".join(lines) + "\n")


def near_peak(peak, rates):
    """convlayer's share of the peak on the rows where oneDNN reaches 90% of it."""
    rows = [(r["convlayer"] / peak[t], f"{SUITE[l]} N={n} {PASSES[p]} {t}T")
            for (l, n, p, t), r in rates.items()
            if "convlayer" in r and "onednn" in r and t in peak and r["onednn"] / peak[t] >= 0.9]
    if not rows:
        return "oneDNN reaches 90% of the peak on no row."
    low = min(rows)
    below = sum(1 for share, _ in rows if share < 0.85)
    return (f"On the {len(rows)} rows where oneDNN reaches 90% of the peak, convlayer reaches at least "
            f"{100 * low[0]:.0f}% ({low[1]}); {below} of them below 85%.")


def scaling(rates):
    """2-thread speed-up over 1 thread at N = 8, per layer and pass, convlayer and oneDNN."""
    lines = ["2-thread speed-up at N = 8 (2-thread GFLOP/s / 1-thread GFLOP/s):", "",
             "| layer | " + " | ".join(f"{p} convlayer | {p} oneDNN" for p in PASSES) + " |",
             "| --- |" + " --- | --- |" * len(PASSES)]
    speedups = []
    for layer in sorted({l for (l, n, _, _) in rates if n == 8}):
        cells = []
        for p in range(len(PASSES)):
            for lib in ("convlayer", "onednn"):
                one, two = rates.get((layer, 8, p, 1), {}).get(lib), rates.get((layer, 8, p, 2), {}).get(lib)
                cells.append(f"{two / one:.2f}" if one and two else "-")
                if lib == "convlayer" and one and two:
                    speedups.append(two / one)
        lines.append(f"| {SUITE[layer]} | " + " | ".join(cells) + " |")
    if speedups:
        lines += ["", f"convlayer: lowest {min(speedups):.2f}, {sum(1 for x in speedups if x < 1.8)} of "
                      f"{len(speedups)} below 1.8."]
    return "\n".join(lines)


def chart(rates, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(PASSES), 1, figsize=(14, 11), sharex=True)
    keys = sorted({(layer, n) for (layer, n, _, _) in rates})
    labels = [f"{SUITE[l]}\nN={n}" for l, n in keys]
    for p, ax in enumerate(axes):
        width = 0.2
        for j, (lib, t) in enumerate([("convlayer", 1), ("onednn", 1), ("convlayer", 2), ("onednn", 2)]):
            vals = [rates.get((l, n, p, t), {}).get(lib, 0) for l, n in keys]
            ax.bar([i + (j - 1.5) * width for i in range(len(keys))], vals, width,
                   label=f"{lib}, {t} thread{'s' if t > 1 else ''}",
                   color=["#1f77b4", "#ff7f0e", "#aec7e8", "#ffbb78"][j])
        ax.set_ylabel(f"{PASSES[p]} GFLOP/s")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(ncol=4, loc="upper left", fontsize=8)
    axes[-1].set_xticks(range(len(keys)))
    axes[-1].set_xticklabels(labels, rotation=60, fontsize=7)
    fig.suptitle("convlayer vs oneDNN 2.6, fp32, same process (medians)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    bench_json, peak_txt, md_path, png_path = sys.argv[1:5]
    peak, rates = load(bench_json, peak_txt)
    open(md_path, "w").write(table(peak, rates))
    chart(rates, png_path)


if __name__ == "__main__":
    main()
