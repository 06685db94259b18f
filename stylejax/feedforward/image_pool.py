"""CycleGAN's history of generated images (Shrivastava et al. 2017; the reference's util/image_pool.py),
held on device as a fixed-size array so a jitted train step can carry it.

The discriminators see, for each new fake, with the pool not yet full: the fake (which is stored);
after that, with probability 1/2 a stored fake chosen uniformly (the new one takes its slot), else the
new fake. The draws come from a key, one (coin, slot) pair per image, folded from the image's index
in the global batch, so every device draws the same and the pool stays replicated.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp


def empty(size: int, height: int, width: int, channels: int = 3) -> dict:
  return {"images": jnp.zeros((size, height, width, channels), jnp.float32), "count": jnp.int32(0)}


@functools.partial(jax.jit, static_argnums=(1, 2))
def draws(key: jax.Array, n: int, size: int) -> tuple[jax.Array, jax.Array]:
  """(coins in [0, 1), slots in [0, size)) for `n` images: image i's from `fold_in(key, i)`."""
  def one(i):
    coin_key, slot_key = jax.random.split(jax.random.fold_in(key, i))
    return jax.random.uniform(coin_key), jax.random.randint(slot_key, (), 0, max(size, 1))
  return jax.vmap(one)(jnp.arange(n))


def query(pool: dict, fakes: jax.Array, key: jax.Array) -> tuple[dict, jax.Array]:
  """(the pool after `fakes`, the images to show the discriminator), images taken one at a time in order."""
  size = pool["images"].shape[0]
  if size == 0:
    return pool, fakes
  coins, slots = draws(key, fakes.shape[0], size)

  def one(state, row):
    stored, count = state
    fake, coin, slot = row
    filling = count < size
    swap = jnp.logical_and(jnp.logical_not(filling), coin > 0.5)
    index = jnp.where(filling, count, slot)
    old = stored[index]
    stored = stored.at[index].set(jnp.where(jnp.logical_or(filling, swap), fake, old))
    return (stored, count + filling.astype(jnp.int32)), jnp.where(swap, old, fake)

  (stored, count), shown = jax.lax.scan(one, (pool["images"], pool["count"]), (fakes, coins, slots))
  return {"images": stored, "count": count}, shown
