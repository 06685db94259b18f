"""The study's tables: results_<tag>.md, and every run and matched reading as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

import analysis
from stylejax.atomic_io import atomic_write_text

RUN_METRICS = ("content_lpips", "content_ssim", "style_gram", "style_mean_std", "style_swd")
STYLE_JUDGES = ("style_gram", "style_mean_std", "style_swd", "style_magenta")
JUDGE_NAMES = {"style_gram": "AlexNet Gram", "style_mean_std": "AlexNet mean/std",
               "style_swd": "AlexNet sliced W.", "style_magenta": "Magenta embedding",
               "content_lpips": "content LPIPS", "content_ssim": "content SSIM"}
SETS = (("A", "set A"), ("B", "set B"), (None, "A + B"))


def _cell(estimate) -> str:
  mean, low, high = estimate
  return f"{mean:+.3f}" if np.isnan(low) else f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def _in_set(rows, image_set):
  return [r for r in rows if image_set is None or r["set"] == image_set]


def _csv(rows: list[dict]) -> str:
  columns = list(dict.fromkeys(k for r in rows for k in r))
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=columns)
  writer.writeheader()
  writer.writerows(rows)
  return buffer.getvalue()


def _arrival(records, baselines, statistics, resamples) -> list[str]:
  """How far style arrived: the result's distance to the painting / the photo's own distance."""
  photo = {(b["photo"], b["painting"]): b for b in baselines}
  lines = ["| statistic (centre weight) | " + " | ".join(JUDGE_NAMES[j] for j in STYLE_JUDGES) + " |",
           "|---|" + "---|" * len(STYLE_JUDGES)]
  for statistic in statistics:
    chosen = [r for r in records if r["statistic"] == statistic and r["multiplier"] == 1.0
              and r["init"] == "content_noise"]
    cells = []
    for judge in STYLE_JUDGES:
      values = [{**r, "value": r[judge] / photo[(r["photo"], r["painting"])][judge]} for r in chosen]
      mean, low, high = analysis.nested_bootstrap(values, resamples)
      cells.append(f"{mean:.2f} [{low:.2f}, {high:.2f}]")
    lines.append(f"| {statistic} | " + " | ".join(cells) + " |")
  return lines


def _matched_tables(rows, statistics, levels, resamples) -> tuple[list[str], dict]:
  """Δ statistic - gram at each matched level, per set; and the verdicts behind the conclusion."""
  judges = ("content_ssim",) + STYLE_JUDGES
  verdicts = {}
  lines = []
  for image_set, name in SETS:
    chosen = _in_set(rows, image_set)
    n_pairs = len({(r["photo"], r["painting"]) for r in chosen})
    lines += ["", f"**{name}** ({n_pairs} pairs). Δ = statistic − gram at the same content LPIPS; mean "
              "[95% bootstrap interval]. Negative is better for the style distances, positive for SSIM.", "",
              "| level | content LPIPS | statistic | " + " | ".join(f"Δ {JUDGE_NAMES[j]}" for j in judges) + " |",
              "|---|---|---|" + "---|" * len(judges)]
    for fraction in levels:
      at_level = [r for r in chosen if r["fraction"] == fraction]
      level = np.mean([r["level"] for r in at_level if r["statistic"] == "gram"])
      for statistic in statistics[1:]:
        cells = []
        for judge in judges:
          estimate = analysis.nested_bootstrap(analysis.differences(at_level, judge, statistic), resamples)
          verdicts[(image_set, fraction, statistic, judge)] = analysis.verdict(
              estimate, lower_is_better=judge != "content_ssim")
          cells.append(_cell(estimate))
        lines.append(f"| {fraction:g} | {level:.3f} | {statistic} | " + " | ".join(cells) + " |")
  return lines, verdicts


def _conclusions(verdicts, statistics, levels) -> list[str]:
  """A claim per statistic and level only where both sets and every style judge agree."""
  lines = ["| statistic | level | " + " | ".join(f"{JUDGE_NAMES[j]} (A / B)" for j in STYLE_JUDGES)
           + " | holds on both sets under every judge |", "|---|---|" + "---|" * (len(STYLE_JUDGES) + 1)]
  for statistic in statistics[1:]:
    for fraction in levels:
      cells, seen = [], set()
      for judge in STYLE_JUDGES:
        a, b = verdicts[("A", fraction, statistic, judge)], verdicts[("B", fraction, statistic, judge)]
        cells.append(f"{a} / {b}")
        seen |= {a, b}
      holds = f"yes: {seen.pop()} than gram" if len(seen) == 1 and seen <= {"better", "worse"} else (
          "yes: no difference" if seen == {"tie"} else "no")
      lines.append(f"| {statistic} | {fraction:g} | " + " | ".join(cells) + f" | {holds} |")
  return lines


def _per_painting(rows, statistics) -> list[str]:
  """Δ at the middle level per painting (mean over its photos and seeds)."""
  middle = sorted({r["fraction"] for r in rows})[len({r["fraction"] for r in rows}) // 2]
  at_level = [r for r in rows if r["fraction"] == middle]
  columns = [(s, j) for s in statistics[1:] for j in STYLE_JUDGES]
  lines = [f"Δ − gram at the middle matched level ({middle:g}), mean over the painting's photos and seeds:", "",
           "| set | painting | " + " | ".join(f"{s}: {JUDGE_NAMES[j]}" for s, j in columns) + " |",
           "|---|---|" + "---|" * len(columns)]
  for image_set, painting in sorted({(r["set"], r["painting"]) for r in at_level}):
    mine = [r for r in at_level if r["painting"] == painting]
    cells = [f"{np.mean([d['value'] for d in analysis.differences(mine, j, s)]):+.3f}" for s, j in columns]
    lines.append(f"| {image_set} | {painting} | " + " | ".join(cells) + " |")
  return lines


def _inits(records, statistics, resamples) -> list[str]:
  """Each init at the centre weight, on the pairs that ran every init: Δ − gram per judge."""
  inits = sorted({r["init"] for r in records})
  pairs_with_all = {(r["photo"], r["painting"]) for r in records if r["init"] != "content_noise"}
  judges = ("content_lpips",) + STYLE_JUDGES
  lines = [f"{len(pairs_with_all)} pairs, seed 0, every statistic at its centre weight (not matched in "
           "content: read the content LPIPS column too). Mean [95% bootstrap interval] of Δ = statistic − gram.", "",
           "| init | statistic | " + " | ".join(f"Δ {JUDGE_NAMES[j]}" for j in judges) + " |",
           "|---|---|" + "---|" * len(judges)]
  for init in inits:
    chosen = [r for r in records if r["init"] == init and r["multiplier"] == 1.0 and r["seed"] == 0
              and (r["photo"], r["painting"]) in pairs_with_all]
    for statistic in statistics[1:]:
      cells = []
      for judge in judges:
        gram = {(r["photo"], r["painting"]): r[judge] for r in chosen if r["statistic"] == "gram"}
        values = [{**r, "value": r[judge] - gram[(r["photo"], r["painting"])]} for r in chosen
                  if r["statistic"] == statistic]
        cells.append(_cell(analysis.nested_bootstrap(values, resamples)))
      lines.append(f"| {init} | {statistic} | " + " | ".join(cells) + " |")
  return lines


def write(records, baselines, saved, config, out: Path, tag: str, wall_s: float) -> str:
  study = config.study
  statistics, levels, resamples = tuple(study.statistics), tuple(study.content_levels), study.bootstrap_resamples
  metrics = ("content_lpips", "content_ssim") + STYLE_JUDGES
  rows, left_out = analysis.matched(records, statistics, levels, metrics)
  pairs = saved["pairs"]
  matched_lines, verdicts = _matched_tables(rows, statistics, levels, resamples)
  lines = [
      f"Protocol `{tag}`: {config.image_size} px, {config.optim.name} "
      + (f"({config.optim.line_search} line search) " if config.optim.name == "lbfgs"
         else f"(lr {config.optim.learning_rate:g}) ")
      + f"{config.optim.steps} steps, init content_noise ±{config.optim.init_noise}, "
      f"{len(pairs)} photo × painting pairs in two disjoint painting sets "
      f"(A: {len([p for p in pairs if p['image_set'] == 'A'])}, B: {len([p for p in pairs if p['image_set'] == 'B'])}), "
      f"{study.seeds} seed(s) per pair, style weight = calibrated centre × {list(study.multipliers)}. "
      f"Centre weights: " + ", ".join(f"{s} {w:.3g}" for s, w in saved["centre_weights"].items()) + ". "
      f"Wall time of the whole protocol: {wall_s / 60:.1f} min.", "",
      "### How far style arrived",
      "",
      "Distance of the result to the painting / distance of the photo itself to the painting, at the "
      "centre weight (1 = no closer than the photo, 0 = as close as the painting). Mean [95% bootstrap interval over pairs].", "",
      *_arrival(records, baselines, statistics, resamples), "",
      "### Matched content levels",
      "",
      "Per photo × painting × seed, every statistic's trade-off curve (content LPIPS vs style distance over "
      "the weight grid) is read at content levels that all the statistics' curves reach, by linear "
      "interpolation: the fractions " + ", ".join(f"{f:g}" for f in levels) + " of that shared range."
      + (f" {len(left_out)} unit(s) left out: their curves share no content range: {left_out}." if left_out
         else " Every unit's curves overlapped.")
      + f" Curves whose content LPIPS does not grow with the weight (read in content order): "
        f"{analysis.non_monotone(records)} of {len(analysis.units(records)) * len(statistics)}.",
      *matched_lines, "",
      "### What holds",
      "",
      "better / worse: the interval of Δ excludes 0; tie: it does not.", "",
      *_conclusions(verdicts, statistics, levels), "",
      "### Per painting",
      "",
      *_per_painting(rows, statistics), "",
      "### Initialisation",
      "",
      *_inits(records, statistics, resamples),
  ]
  text = "\n".join(lines) + "\n"
  atomic_write_text(out / f"results_{tag}.md", text)
  atomic_write_text(out / f"runs_{tag}.csv", _csv([{k: v for k, v in r.items() if k not in ("path",)}
                                                  for r in records]))
  atomic_write_text(out / f"matched_{tag}.csv", _csv(rows))
  return text
