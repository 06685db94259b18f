"""Embedding images for style and content retrieval (`stylejax embed`, `stylejax search`). Every field is
commented; the config is locked, so a typo in an override is an error.

  stylejax embed photos/ --index indexes/photos
  stylejax embed photos/ --index indexes/photos_alexnet --config retrieval:alexnet
  stylejax search indexes/photos query.jpg --by style-not-content --k 10 --sheet sheet.png

The `loss` block names the feature network (its `network` sub-block), the layers and the style
statistic (gram | mean_var | sliced_wasserstein here; n_projections for the latter); its loss
weights (content_weight, style_weight, tv_weight) are not used. An index remembers the config it was built with: searching uses that, and embedding more
images into it needs the same values (batch size, workers and the `index` block may change).
"""

import ml_collections

from stylejax.configs.loss import get_loss_config

ARGS = ("", "alexnet")  # what get_config(arg) accepts (NAME:ARG); anything else is refused


def get_retrieval_base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = "embed"  # what runs this config (stylejax/tasks.py): `stylejax embed`; validation checks its blocks
  c.seed = 0  # seeds the style sketch's buckets and signs and the sliced-Wasserstein directions

  c.loss = get_loss_config()  # the feature network, layers and style statistic (stylejax/configs/loss.py)
  c.loss.content_layers = "relu5_3"  # provisional: deep enough that another style of the scene still matches

  c.embed = ml_collections.ConfigDict()
  c.embed.network = "loss"  # loss: the VGG of the loss block | alexnet: AlexNet, LPIPS weights, relu1..5 | ghiasi
  c.embed.checkpoint = ""  # embed.network=ghiasi: a style-prediction training workdir; its embedding is the style vector
  c.embed.image_size = 256  # each image: centre square crop, resized to image_size x image_size
  c.embed.batch_size = 16  # images per compiled step (rounded up to a multiple of the devices)
  c.embed.style_dim = 512  # length of the style vector (after the sketch, or after PCA)
  c.embed.reduction = "sketch"  # sketch: seeded count sketch to style_dim | pca: PCA fitted on the collection
  c.embed.pca_input_dim = 4096  # reduction=pca: the stored style vectors' sketch length, PCA'd to style_dim
  c.embed.n_quantiles = 16  # sliced_wasserstein: quantiles kept per projection direction
  c.embed.content_grid = 2  # content: features average-pooled to a content_grid x content_grid grid
  c.embed.flush_every = 512  # images per stored shard: at most this much work is redone after a crash
  c.embed.workers = 4  # threads that read, hash and decode images ahead of the network
  c.embed.tfds_data_dir = ""  # for SOURCE tfds:NAME; empty: $TFDS_DATA_DIR or ~/tensorflow_datasets

  c.index = ml_collections.ConfigDict()
  # Exact search (IndexFlatIP) up to this many images, then approximate. BENCHMARKS.md "retrieval":
  # exact stays under 50 ms a query to ~340k 512-d vectors; HNSW kept recall@10 0.995 at 1e5, 0.82 at 1e6.
  c.index.approximate_above = 300_000  # exact search up to this many images, then approximate (index.method)
  c.index.method = "hnsw"  # approximate index: hnsw (IndexHNSWFlat) | ivf (IndexIVFFlat)
  c.index.hnsw_m = 32  # hnsw: neighbours per node
  c.index.ef_search = 128  # hnsw: candidates explored per query (more: better recall, slower)
  c.index.ivf_lists = 0  # ivf: k-means lists; 0: 4 * sqrt(number of images)
  c.index.nprobe = 16  # ivf: lists visited per query
  return c


def get_config(arg: str = ""):
  c = get_retrieval_base_config()
  if arg == "alexnet":
    c.embed.network = "alexnet"
  c.lock()
  return c
