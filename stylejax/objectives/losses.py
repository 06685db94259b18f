"""Style-transfer losses: pure, per example, jit- and vmap-friendly.

Features are dicts {layer: (H, W, C)} for ONE image; vmap adds batch or hyperparameter axes.
Weights enter as arrays (scalars or per-layer dicts of scalars), so changing them never retraces.

Style statistics (`STATISTICS`):
  gram         Gram matrix G = F^T F / M (M = H*W). Normalisation of the loss by `gram_norm`:
                 "gatys": sum((G - A)^2) / (4 C^2)  == Gatys et al.'s 1/(4 N^2 M^2) sum of raw Grams;
                 "hw":    mean over the C^2 entries of (G - A)^2 (Gram per H*W);
                 "chw":   mean of (G/C - A/C)^2 (Gram per C*H*W, as in the PyTorch tutorial).
  mean_var     per-channel mean and standard deviation (Li et al. 2017; Huang & Belongie's AdaIN
               loss): mean of squared differences of means plus that of stds.
  mean_cov     squared 2-Wasserstein distance between Gaussians fitted to the features (mean and
               covariance), divided by C. Matrix square roots come from `eigh`, which runs one
               matrix at a time under vmap (see `_eigh`).
  sliced_wasserstein
               Heitz et al. 2021: project features on random unit directions, sort, compare.
               Directions come from a key, so the loss is deterministic given the key.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp

from stylejax.errors import StylejaxError

STATISTICS = ("gram", "mean_var", "mean_cov", "sliced_wasserstein")
GRAM_NORMS = ("gatys", "hw", "chw")
Features = Mapping[str, jax.Array]


def check_statistic(statistic: str, gram_norm: str = "gatys") -> None:
  """A bad name (from a config, or a caller of this module) is the user's mistake: StylejaxError."""
  if statistic not in STATISTICS:
    raise StylejaxError(f"unknown style statistic {statistic!r}; choose one of {STATISTICS}")
  if gram_norm not in GRAM_NORMS:
    raise StylejaxError(f"unknown gram normalisation {gram_norm!r}; choose one of {GRAM_NORMS}")


def _flatten(feature: jax.Array) -> jax.Array:
  return feature.reshape(-1, feature.shape[-1])  # (M, C)


def gram(feature: jax.Array) -> jax.Array:
  """F^T F / M for (H, W, C) features: (C, C)."""
  return _gram_of_rows(_flatten(feature))


# The derivative written out, dF = F (dG + dG^T) / M: one matmul, where autodiff's two (F dG^T and
# F dG, summed) each keep an (M, C) buffer. At 512 px that is 120 MiB less XLA temp memory for the
# Gatys loss on VGG19 (566 -> 446 MiB), and it scales with the pixel count (benchmarks/bench_highres.py).
@jax.custom_vjp
def _gram_of_rows(f: jax.Array) -> jax.Array:
  return f.T @ f / f.shape[0]


def _gram_forward(f):
  return _gram_of_rows(f), f


def _gram_backward(f, d_gram):
  return ((f @ (d_gram + d_gram.T)) / f.shape[0],)


_gram_of_rows.defvjp(_gram_forward, _gram_backward)


def _mean_std(feature: jax.Array, eps: float = 1e-5):
  f = _flatten(feature)
  mean = f.mean(axis=0)
  return mean, jnp.sqrt(f.var(axis=0) + eps)


def _mean_cov(feature: jax.Array):
  f = _flatten(feature)
  mean = f.mean(axis=0)
  centred = f - mean
  return mean, centred.T @ centred / f.shape[0]


# XLA:CPU in jaxlib 0.10 spreads a batched LAPACK call over its thread pool and blocks until it is
# done (jax issue 36927), so two batched eigh at once (two layers of a vmapped sweep) can wait on
# each other forever: a 12-run mean_cov sweep deadlocked so on 2 cores. Under vmap, `_eigh` loops
# over the batch (lax.map) instead, one matrix per call, which runs inline. The same on every
# backend, for one code path. A Newton-Schulz square root (matmuls only, 20 iterations) was as
# accurate on VGG16 features but made a 12-run sweep 3x slower on CPU, and turned NaN on singular
# covariances at 30 iterations.
_eigh = jax.custom_batching.sequential_vmap(lambda matrix: jnp.linalg.eigh(matrix))


def _eigen_roots(matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Square roots of the eigenvalues of a symmetric PSD matrix, and its eigenvectors.

  Eigenvalues within eigh's rounding error of 0 (eps * the largest) count as 0: VGG features have
  dead (all-zero) channels after ReLU, so their covariances are singular, and float32 eigh returns
  those eigenvalues as noise up to that size, whose roots (~sqrt(eps)) would bias the loss. (On
  VGG16 features this cut the float32 loss's error against float64 from 1.6e-3 to 6e-5 at relu4_1;
  numpy.linalg.matrix_rank's n * eps cut real eigenvalues and raised it to 2e-2.)
  """
  values, vectors = _eigh(matrix)
  tolerance = jnp.max(jnp.abs(values)) * jnp.finfo(values.dtype).eps
  return jnp.sqrt(jnp.where(values > tolerance, values, 0.0)), vectors


def _reciprocal_or_zero(x: jax.Array) -> jax.Array:
  return jnp.where(x > 0, 1.0 / jnp.where(x > 0, x, 1.0), 0.0)


# custom_jvp because sequential_vmap has no reverse-mode rule of its own; the tangents below are
# matmuls, which transpose, so grad works and never differentiates through eigh. Derivatives of a
# square root are unbounded on the null space; they are left out there.
@jax.custom_jvp
def _psd_sqrt(matrix: jax.Array) -> jax.Array:
  """The symmetric square root of a symmetric positive semi-definite matrix."""
  roots, vectors = _eigen_roots(matrix)
  return (vectors * roots) @ vectors.T


@_psd_sqrt.defjvp
def _psd_sqrt_jvp(primals, tangents):
  (matrix,), (tangent,) = primals, tangents
  roots, vectors = _eigen_roots(matrix)
  # S dS + dS S = dA (from S^2 = A), solved in A's eigenbasis. eigh reads the symmetric part of its
  # input, so only the tangent's symmetric part counts.
  rotated = vectors.T @ (tangent + tangent.T) @ vectors / 2.0
  rotated = rotated * _reciprocal_or_zero(roots[:, None] + roots[None, :])
  return (vectors * roots) @ vectors.T, vectors @ rotated @ vectors.T


@jax.custom_jvp
def _trace_sqrt(matrix: jax.Array) -> jax.Array:
  """tr(A^(1/2)) of a symmetric positive semi-definite matrix: the sum of its eigenvalues' roots."""
  return jnp.sum(_eigen_roots(matrix)[0])


@_trace_sqrt.defjvp
def _trace_sqrt_jvp(primals, tangents):
  (matrix,), (tangent,) = primals, tangents
  roots, vectors = _eigen_roots(matrix)
  slopes = 0.5 * _reciprocal_or_zero(roots)  # d tr(A^(1/2)) = tr(A^(-1/2) dA) / 2
  return jnp.sum(roots), jnp.sum(((vectors * slopes) @ vectors.T) * tangent)


def style_target(feature: jax.Array, statistic: str) -> dict:
  """What the style loss compares against, computed once per style image and layer."""
  check_statistic(statistic)
  if statistic == "gram":
    return {"gram": gram(feature)}
  if statistic == "mean_var":
    mean, std = _mean_std(feature)
    return {"mean": mean, "std": std}
  if statistic == "mean_cov":
    mean, cov = _mean_cov(feature)
    return {"mean": mean, "cov": cov, "cov_sqrt": _psd_sqrt(cov)}
  if statistic == "sliced_wasserstein":
    return {"features": _flatten(feature)}
  raise AssertionError(f"statistic {statistic!r} is in STATISTICS but has no target")


def style_targets(features: Features, statistic: str) -> dict:
  return {layer: style_target(f, statistic) for layer, f in features.items()}


def _sorted_quantiles(values: jax.Array, n: int) -> jax.Array:
  """Sorted columns of (M, P) resampled to n rows (quantile matching when sizes differ)."""
  values = jnp.sort(values, axis=0)
  if values.shape[0] == n:
    return values
  if values.shape[0] == 1:
    return jnp.broadcast_to(values, (n, values.shape[1]))
  positions = (jnp.arange(n) + 0.5) / n * values.shape[0] - 0.5
  return jax.vmap(lambda col: jnp.interp(positions, jnp.arange(values.shape[0]), col),
                  in_axes=1, out_axes=1)(values)


def layer_style_loss(feature: jax.Array, target: Mapping, statistic: str, *, gram_norm: str = "gatys",
                     key: jax.Array | None = None, n_projections: int = 64) -> jax.Array:
  """Style loss of one layer's (H, W, C) features against its precomputed target."""
  check_statistic(statistic, gram_norm)
  channels = feature.shape[-1]
  if statistic == "gram":
    diff = gram(feature) - target["gram"]
    if gram_norm == "gatys":
      return jnp.sum(diff**2) / (4.0 * channels**2)
    if gram_norm == "hw":
      return jnp.mean(diff**2)
    if gram_norm == "chw":
      return jnp.mean((diff / channels)**2)
    raise AssertionError(f"gram_norm {gram_norm!r} is in GRAM_NORMS but has no formula")
  if statistic == "mean_var":
    mean, std = _mean_std(feature)
    return jnp.mean((mean - target["mean"])**2) + jnp.mean((std - target["std"])**2)
  if statistic == "mean_cov":
    mean, cov = _mean_cov(feature)
    s = target["cov_sqrt"]
    w2 = (jnp.sum((mean - target["mean"])**2) + jnp.trace(cov) + jnp.trace(target["cov"])
          - 2.0 * _trace_sqrt(s @ cov @ s))
    return w2 / channels
  if statistic == "sliced_wasserstein":
    if key is None:
      raise StylejaxError("the sliced_wasserstein statistic needs a PRNG key (key=...)")
    directions = jax.random.normal(key, (channels, n_projections))
    directions = directions / jnp.linalg.norm(directions, axis=0, keepdims=True)
    ours = jnp.sort(_flatten(feature) @ directions, axis=0)
    theirs = _sorted_quantiles(target["features"] @ directions, ours.shape[0])
    return jnp.mean((ours - theirs)**2)
  raise AssertionError(f"statistic {statistic!r} is in STATISTICS but has no loss")


def style_loss(features: Features, targets: Mapping, layer_weights: Mapping[str, jax.Array],
               statistic: str, *, gram_norm: str = "gatys", key: jax.Array | None = None,
               n_projections: int = 64) -> jax.Array:
  """Weighted sum over layers. `targets` and `layer_weights` are keyed by layer."""
  total = 0.0
  for i, layer in enumerate(sorted(layer_weights)):
    layer_key = None if key is None else jax.random.fold_in(key, i)
    total = total + layer_weights[layer] * layer_style_loss(
        features[layer], targets[layer], statistic, gram_norm=gram_norm, key=layer_key,
        n_projections=n_projections)
  return total


def content_loss(features: Features, targets: Features, layer_weights: Mapping[str, jax.Array]) -> jax.Array:
  """Weighted sum over layers of the mean squared error of features."""
  return sum(layer_weights[layer] * jnp.mean((features[layer] - targets[layer])**2)
             for layer in sorted(layer_weights))


def total_variation(image: jax.Array) -> jax.Array:
  """Mean squared difference between neighbouring pixels, (H, W, C) image."""
  dy = image[1:, :, :] - image[:-1, :, :]
  dx = image[:, 1:, :] - image[:, :-1, :]
  return jnp.mean(dy**2) + jnp.mean(dx**2)
