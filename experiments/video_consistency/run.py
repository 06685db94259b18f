"""Video consistency on synthetic clips: per-frame vs temporal variants vs the EMA baseline, for pixel
optimization (Ruder et al.), two networks (the pretrained Magenta model, a CIN network) with post-hoc
blending, and two networks fine-tuned with the temporal loss (finetune.py: CIN from multistyle26,
Ghiasi from Magenta), each beside the same fine-tune without it.

  # a CIN network first (about 10 min on 2 quiet cores; cin_tiny's styles include great_wave):
  stylejax train --config cin_tiny --workdir workdirs/cin_tiny
  nice -n 10 python experiments/video_consistency/run.py --part networks --cin workdirs/cin_tiny
  nice -n 10 python experiments/video_consistency/run.py --part pixel
  python experiments/video_consistency/finetune.py --work workdirs/video_finetune
  python experiments/video_consistency/finetune.py --work workdirs/video_finetune --weights 300
  python experiments/video_consistency/run.py --part finetuned --finetuned workdirs/video_finetune
  python experiments/video_consistency/report.py

Clips (stylejax.video.synthetic): pan, zoom, rotate and a moving foreground disk made from the
shared photos, so the true flow and occlusions are known. The variants' consistency step uses DIS
flow estimated on the input, as `stylejax video` does; the warping error (Lai et al. 2018) is
measured with the EXACT flow and visibility of each clip. Style distance (AlexNet Gram, the
project's evaluator) and content LPIPS are per frame, averaged over the clip. One row per clip x
method x variant goes to results/rows.jsonl (appended as each finishes, so a cut run keeps its rows).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from stylejax import configuration
from stylejax.evaluation import metrics as evaluation
from stylejax.evaluation import temporal
from stylejax.imaging import images
from stylejax.video import consistency, stylizers, synthetic
from stylejax.video import run as video_run
from stylejax.video.flows import ClipFlow

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent.parent / "shared" / "data"
DATA = SHARED if SHARED.is_dir() else Path("/work/shared/data")
STYLE = DATA / "style" / "great_wave.jpg"
CIN_STYLE = "1"  # great_wave in cin_tiny's styles (starry_night, great_wave, composition_vii, the_scream)
BETA = 0.6  # blend and EMA keep this share of the previous output


def clips(size, frames, photos):
  patch = images.load_image(str(DATA / "content" / "coffee.jpg"))
  for photo in photos:
    still = images.load_image(str(DATA / "content" / f"{photo}.jpg"))
    for kind in synthetic.KINDS:
      yield f"{photo}/{kind}", synthetic.make_clip(kind, still, size, frames, patch=patch)


def exact_warping_error(frames, clip):
  n = len(frames)
  return temporal.warping_error(frames, [clip.flow(t, t + 1) for t in range(n - 1)],
                                [clip.visible(t, t + 1).astype(np.float32) for t in range(n - 1)])


def frame_metrics(evaluator, frames, clip, style):
  per = [evaluator(f.astype(np.float32) / 255, clip.frame(t), style) for t, f in enumerate(frames)]
  return {k: float(np.mean([p[k] for p in per])) for k in ("style_gram", "style_swd", "content_lpips")}


def post_hoc(raws, flows, mode):
  """blend / ema over already stylized frames, each output rounded to 8 bits as the runner does."""
  outs = [raws[0]]
  for t in range(1, len(raws)):
    s, prev = raws[t].astype(np.float32) / 255, outs[-1].astype(np.float32) / 255
    if mode == "ema":
      out = consistency.ema(s, prev, BETA)
    else:
      out = consistency.flow_blend(s, prev, flows.flow(t, t - 1), flows.reliability(t, t - 1), BETA)
    outs.append(images.to_uint8(out))
  return np.stack(outs)


def record(rows_path, row):
  with open(rows_path, "a") as f:
    f.write(json.dumps(row) + "\n")
  print(json.dumps(row), flush=True)


def timed_flows(clip, n):
  flows = ClipFlow(clip.frame, clip.shape)
  began = time.perf_counter()
  for t in range(1, n):
    flows.reliability(t, t - 1)
  return flows, (time.perf_counter() - began) / max(1, n - 1)


def networks(args, rows_path, evaluator, style, save):
  methods = {"magenta": stylizers.load(stylizers.NetworkChoice(style_images=(str(STYLE),)))}
  if args.cin:
    methods["cin"] = stylizers.load(stylizers.NetworkChoice(checkpoint=args.cin, style=CIN_STYLE))
  for name, clip in clips((96, 128), args.frames, args.photos):
    flows, flow_s = timed_flows(clip, args.frames)
    for method, stylize in methods.items():
      stylize(clip.frame(0))  # compile outside the timing
      began = time.perf_counter()
      raws = np.stack([images.to_uint8(stylize(clip.frame(t))) for t in range(args.frames)])
      per_frame_s = (time.perf_counter() - began) / args.frames
      for variant in ("per_frame", "blend", "ema"):
        began = time.perf_counter()
        outs = raws if variant == "per_frame" else post_hoc(raws, flows, variant)
        extra = (time.perf_counter() - began) / args.frames + (flow_s if variant == "blend" else 0)
        save(name, method, variant, outs, clip)
        record(rows_path, {"clip": name, "method": method, "variant": variant,
                           "warping_error": exact_warping_error(outs, clip), "s_per_frame": per_frame_s + extra,
                           **frame_metrics(evaluator, outs, clip, style)})


def finetuned(args, rows_path, evaluator, style, save):
  """The temporal fine-tunes of finetune.py: per network, its temporal.weight=0 run ("per_frame")
  beside its temporal.weight=W runs ("temporalW"), and blend/ema of the per-frame run for reference."""
  work = Path(args.finetuned)
  choices = {"cin_ft": lambda w: stylizers.NetworkChoice(checkpoint=str(work / f"cin_temporal{w}"), style="26"),
             "ghiasi_ft": lambda w: stylizers.NetworkChoice(checkpoint=str(work / f"ghiasi_temporal{w}"),
                                                             style_images=(str(STYLE),))}
  methods = {}
  for method, choice in choices.items():
    if (work / f"{method[:-3]}_temporal0").is_dir():
      methods[method] = {"per_frame": stylizers.load(choice("0")),
                         **{f"temporal{w}": stylizers.load(choice(w)) for w in args.weights}}
  for name, clip in clips((96, 128), args.frames, args.photos):
    flows, flow_s = timed_flows(clip, args.frames)
    for method, variants in methods.items():
      results = {}
      for variant, stylize in variants.items():
        stylize(clip.frame(0))  # compile outside the timing
        began = time.perf_counter()
        results[variant] = (np.stack([images.to_uint8(stylize(clip.frame(t))) for t in range(args.frames)]),
                            (time.perf_counter() - began) / args.frames)
      raws, raw_s = results["per_frame"]
      results["blend"] = (post_hoc(raws, flows, "blend"), raw_s + flow_s)
      results["ema"] = (post_hoc(raws, flows, "ema"), raw_s)
      for variant, (outs, seconds) in results.items():
        save(name, method, variant, outs, clip)
        record(rows_path, {"clip": name, "method": method, "variant": variant,
                           "warping_error": exact_warping_error(outs, clip), "s_per_frame": seconds,
                           **frame_metrics(evaluator, outs, clip, style)})


def pixel(args, rows_path, evaluator, style, save):
  from stylejax.video import pixel as pixel_video  # pylint: disable=import-outside-toplevel

  config = configuration.load_config("video_pixel")
  config.styles = (str(STYLE),)
  config.image_size = 96
  baseline = configuration.apply_overrides(configuration.load_config("video_pixel"), [])
  baseline.styles, baseline.image_size = config.styles, config.image_size
  baseline.video.temporal_weight, baseline.video.init = 0.0, "content"
  baseline.optim.steps = baseline.video.first_frame_steps  # every frame from the photo, the full budget
  temporal_frames, per_frame = pixel_video.PixelFrames(config), pixel_video.PixelFrames(baseline)
  for name, clip in clips((64, 96), args.pixel_frames, args.pixel_photos):
    flows, flow_s = timed_flows(clip, args.pixel_frames)
    results = {}
    for variant, producer in (("per_frame", per_frame), ("temporal", temporal_frames)):
      outs, _, times = video_run.stylize_clip(producer, clip.frame, args.pixel_frames, flows)
      results[variant] = (outs, float(np.mean(times)))
    raws, raw_s = results["per_frame"]
    results["blend"] = (post_hoc(raws, flows, "blend"), raw_s + flow_s)
    results["ema"] = (post_hoc(raws, flows, "ema"), raw_s)
    for variant, (outs, seconds) in results.items():
      save(name, "pixel", variant, outs, clip)
      record(rows_path, {"clip": name, "method": "pixel", "variant": variant,
                         "warping_error": exact_warping_error(outs, clip), "s_per_frame": seconds,
                         **frame_metrics(evaluator, outs, clip, style)})


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--part", choices=["networks", "pixel", "finetuned"], required=True)
  parser.add_argument("--finetuned", default=str(HERE / "workdirs" / "finetune"),
                      help="finetune.py's --work: {cin,ghiasi}_temporal{0,WEIGHT} workdirs")
  parser.add_argument("--weights", nargs="+", default=["300", "2000"],
                      help="the temporal.weight values of the fine-tunes to compare with 0 (variants temporalW)")
  parser.add_argument("--cin", default=None, help="a cin_tiny training workdir (its style 1 is great_wave)")
  parser.add_argument("--frames", type=int, default=8)
  parser.add_argument("--photos", nargs="+", default=["astronaut", "mountain_landscape"])
  parser.add_argument("--pixel-frames", type=int, default=5)
  parser.add_argument("--pixel-photos", nargs="+", default=["astronaut"])
  parser.add_argument("--out", default=str(HERE / "results"))
  args = parser.parse_args(argv)
  out = Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  strips = HERE / "workdirs" / "strips"  # the frames behind the figure (not committed)
  strips.mkdir(parents=True, exist_ok=True)
  evaluator = evaluation.Evaluator("alexnet", size=160)
  style = images.load_image(str(STYLE))

  def save(name, method, variant, outs, clip):
    np.savez_compressed(strips / f"{name.replace('/', '_')}_{method}_{variant}.npz", frames=outs,
                        input=clip.frames)
  parts = {"networks": networks, "pixel": pixel, "finetuned": finetuned}
  parts[args.part](args, out / f"rows_{args.part}.jsonl", evaluator, style, save)


if __name__ == "__main__":
  sys.exit(main())
