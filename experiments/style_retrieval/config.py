"""Config of the style retrieval benchmark (issue 13; see README.md for the protocol).

  python experiments/style_retrieval/run.py --data ../shared/data              # default, ~10 min on 2 CPUs
  python experiments/style_retrieval/run.py --data ../shared/data --runlocal   # ~2 min smoke run
"""

import ml_collections

ARGS = ("", "runlocal")  # what get_config(arg) accepts


def get_config(arg: str = ""):
  c = ml_collections.ConfigDict()
  c.seed = 0  # crops' colour jitter, sketch tables, bootstrap
  # Ground truth A: regions of the same painting.
  c.regions = ml_collections.ConfigDict()
  c.regions.grid = 3  # grid x grid crops per painting
  c.regions.fraction = 0.4  # crop side / the painting's short side (3 crops of 0.4 overlap by 1/4 on it)
  c.regions.size = 160  # crops are resized to size x size and embedded at that size
  c.regions.hue_range = (0.2, 0.8)  # jitter: hue rotation in turns, uniform (never near 0 or 1)
  c.regions.saturation_range = (0.5, 1.5)  # jitter: saturation scale, uniform
  # Ground truth B: stylized photos (the pretrained Magenta arbitrary-style model).
  c.stylized = ml_collections.ConfigDict()
  c.stylized.size = 256  # photos centre-cropped and stylized at size x size: the product's embed size
  c.stylized.bundled_photos = True  # add the package's scikit-image photos not already in content/
  # What is compared.
  c.networks = ("loss", "alexnet")  # loss: VGG16 (lpips weights, the retrieval default) | alexnet
  c.statistics = ("gram", "mean_var", "sliced_wasserstein")  # style statistics compared (loss.statistic names)
  c.sketch_dims = (128, 512)  # count-sketch sizes (512: the product default)
  c.pca_dim = 512  # reduction=pca: PCA of the pca_input_dim sketch, fitted on the collection
  c.batch_size = 16  # images per compiled embedding step
  # Metrics.
  c.ks = (1, 5, 10)  # recall@k cut-offs
  c.bootstrap_resamples = 2000  # percentile bootstrap over queries (and over paintings for differences)
  c.thresholds = tuple(round(0.05 * i, 2) for i in range(21))  # style-not-content sweep, set B
  c.provisional_threshold = 0.5  # the product's default before this benchmark, shown for comparison
  c.threshold_k = 10  # the k of the "similar, not identical" share the threshold maximises
  c.max_paintings = 0  # 0: every painting of style/
  c.max_photos = 0  # 0: every photo
  if arg == "runlocal":  # a smoke run of the whole pipeline: 4 paintings, 3 photos, small images
    c.regions.grid = 2
    c.regions.size = 96
    c.stylized.size = 128
    c.max_paintings = 4
    c.max_photos = 3
    c.bootstrap_resamples = 200
  c.lock()
  return c
