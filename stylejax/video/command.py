"""`stylejax video`'s options to a `stylejax.video.run.run` call: which method makes the frames,
with which consistency step. Every option is checked before a model loads or a frame is read."""

from __future__ import annotations

import dataclasses

from stylejax import configuration, tasks
from stylejax.errors import StylejaxError
from stylejax.video import run as video_run
from stylejax.video import stylizers


def _pixel_config(args):
  config = configuration.apply_overrides(configuration.load_config(args.config), args.set)
  tasks.expect(config, "video", f"config {args.config!r}")
  if args.style_image:
    config.styles = tuple(args.style_image)
  if args.style_weights:
    try:
      config.style_blend = tuple(float(w) for w in args.style_weights.split(","))
    except ValueError:
      raise StylejaxError(f"--style-weights must be comma-separated numbers, got {args.style_weights!r}") from None
  if args.size:
    config.image_size = args.size
  if args.preserve_color:
    config.preserve_color = "luminance"
  if args.consistency == "none":  # the per-frame baseline: no temporal pull, every frame from the photo
    config.video.temporal_weight = 0.0
    config.video.init = "content"
    config.optim.steps = config.video.first_frame_steps
  tasks.validate(config)
  return config


def _refuse(args, names, why):
  for name in names:
    value = getattr(args, name)
    if value not in (None, False, []):
      raise StylejaxError(f"--{name.replace('_', '-')} {why}")


def run_from_args(args) -> video_run.VideoResult:
  if args.max_frames < 0 or (args.size is not None and args.size < 16):
    raise StylejaxError("--max-frames must be >= 0 and --size at least 16")
  if args.method == "pixel":
    from stylejax.video import pixel  # pylint: disable=import-outside-toplevel

    if args.consistency in ("blend", "ema"):
      raise StylejaxError("--method pixel keeps frames consistent with its temporal term: --consistency temporal "
                          "or none")
    _refuse(args, ("checkpoint", "mask", "step", "encoder"), "goes with a network method, not --method pixel")
    config = _pixel_config(args)
    request = {"method": "pixel", "consistency": args.consistency or "temporal", "config": config.to_dict()}
    factory = lambda shape: pixel.PixelFrames(config, compare=args.compare is not None)
    size = config.image_size
  else:
    if args.consistency == "temporal":
      raise StylejaxError("--consistency temporal is pixel optimization's (--method pixel); networks take none, "
                          "blend or ema (or a network fine-tuned with a temporal loss as --checkpoint)")
    _refuse(args, ("set",), "goes with --method pixel")
    choice = stylizers.NetworkChoice(
        method=args.method, checkpoint=args.checkpoint, style_images=tuple(args.style_image),
        style_weights=args.style_weights, alpha=args.alpha, mask=args.mask, style=args.style,
        strength=args.strength, preserve_color=args.preserve_color, step=args.step, encoder=args.encoder)
    mode = args.consistency or "blend"
    method = stylizers.network_method(choice)
    request = {"method": method, "consistency": mode, "beta": args.beta, **dataclasses.asdict(choice)}
    request["method"] = method
    factory = lambda shape: video_run.NetworkFrames(stylizers.load(choice), mode, args.beta)
    size = args.size or 0
  return video_run.run(args.input, args.output, factory, request, workdir=args.workdir, size=size,
                       max_frames=args.max_frames, fps=args.fps, compare=args.compare, flow_dir=args.flow_dir,
                       overwrite=args.overwrite, quiet=args.quiet)
