"""Test clips with a known answer, made from one still image (and a second for a foreground).

A virtual camera looks at the still: frame t shows source point p = c_t + R(theta_t) (x - o) / z_t
at frame pixel x (o: the frame's centre; c, theta, z: the camera's centre on the source, angle and
zoom). Between two frames every background pixel therefore moves by an exactly known affine map.
The `foreground` clip adds a textured disk that slides across the frame on top of the scene: its
pixels move rigidly, and background pixels it covers in the other frame are occluded, which is the
ground truth for the reliability masks. Pixels that leave the frame count as not visible.

Frames are rendered with bilinear sampling (cv2.remap) from the still resized so one source pixel
is about one frame pixel (no aliasing). No randomness: a clip is a pure function of its arguments.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from stylejax.imaging import images

KINDS = ("pan", "zoom", "rotate", "foreground")


@dataclasses.dataclass(frozen=True)
class Camera:
  center: tuple[float, float]  # (x, y) on the source image, in its pixels
  angle: float = 0.0  # radians
  zoom: float = 1.0  # > 1 magnifies

  def matrix(self) -> np.ndarray:
    """M with p = center + M (x - o)."""
    c, s = math.cos(self.angle), math.sin(self.angle)
    return np.asarray([[c, -s], [s, c]]) / self.zoom


@dataclasses.dataclass
class SyntheticClip:
  frames: np.ndarray  # (T, H, W, 3) uint8
  cameras: list[Camera]
  disk_centers: list[tuple[float, float]] | None = None  # the foreground's centre per frame (x, y)
  disk_radius: float = 0.0

  @property
  def shape(self) -> tuple[int, int]:
    return self.frames.shape[1:3]

  def _grid(self) -> np.ndarray:
    h, w = self.shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([cols, rows], -1)

  def _origin(self) -> np.ndarray:
    h, w = self.shape
    return np.asarray([(w - 1) / 2, (h - 1) / 2])

  def _in_disk(self, points: np.ndarray, t: int) -> np.ndarray:
    if self.disk_centers is None:
      return np.zeros(points.shape[:-1], bool)
    return np.sum((points - np.asarray(self.disk_centers[t])) ** 2, -1) <= self.disk_radius ** 2

  def flow(self, a: int, b: int) -> np.ndarray:
    """The exact F_{a->b}: (H, W, 2) float32."""
    x, o = self._grid(), self._origin()
    ca, cb = self.cameras[a], self.cameras[b]
    source = np.asarray(ca.center) + (x - o) @ ca.matrix().T
    target = o + (source - np.asarray(cb.center)) @ np.linalg.inv(cb.matrix()).T
    if self.disk_centers is not None:
      moved = x + np.asarray(self.disk_centers[b]) - np.asarray(self.disk_centers[a])
      target = np.where(self._in_disk(x, a)[..., None], moved, target)
    return (target - x).astype(np.float32)

  def visible(self, a: int, b: int) -> np.ndarray:
    """(H, W) bool on frame a: the point seen there is seen in frame b too (inside the frame, and
    not a background point the foreground covers in b)."""
    x = self._grid()
    target = x + self.flow(a, b)
    h, w = self.shape
    inside = (target[..., 0] >= 0) & (target[..., 0] <= w - 1) & (target[..., 1] >= 0) & (target[..., 1] <= h - 1)
    return inside & (self._in_disk(x, a) | ~self._in_disk(target, b))

  def frame(self, t: int) -> np.ndarray:
    return self.frames[t].astype(np.float32) / 255.0


def _render(source: np.ndarray, camera: Camera, shape: tuple[int, int]) -> np.ndarray:
  h, w = shape
  rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
  offset = np.stack([cols - (w - 1) / 2, rows - (h - 1) / 2], -1)
  points = np.asarray(camera.center) + offset @ camera.matrix().T
  return cv2.remap(source, points[..., 0].astype(np.float32), points[..., 1].astype(np.float32),
                   cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def make_clip(kind: str, still: np.ndarray, size: tuple[int, int] = (96, 128), frames: int = 8,
              patch: np.ndarray | None = None, speed: float = 1.0) -> SyntheticClip:
  """A `kind` clip (KINDS) of `frames` (H, W) = `size` frames from the (H, W, 3) [0, 1] `still`;
  `patch` textures the foreground disk (default: the still flipped upside down). `speed` scales
  the motion (1: pans of ~2.5 px, zooms of 1.5 %, turns of 1 degree per frame)."""
  if kind not in KINDS:
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
  h, w = size
  source = images.resize(still, (2 * h, round(2 * h * still.shape[1] / still.shape[0])))
  if source.shape[1] < 2 * w:
    source = images.resize(still, (round(2 * w * still.shape[0] / still.shape[1]), 2 * w))
  centre = ((source.shape[1] - 1) / 2, (source.shape[0] - 1) / 2)
  cameras = []
  for t in range(frames):
    s = speed * (t - (frames - 1) / 2)
    if kind == "pan":
      cameras.append(Camera((centre[0] + 2.2 * s, centre[1] + 1.1 * s)))
    elif kind == "zoom":
      cameras.append(Camera(centre, zoom=1.015 ** (s + (frames - 1) / 2 * speed)))
    elif kind == "rotate":
      cameras.append(Camera(centre, angle=math.radians(s)))
    else:
      cameras.append(Camera((centre[0] + 0.8 * s, centre[1])))
  rendered = np.stack([_render(source, c, size) for c in cameras])
  disk_centers, radius = None, 0.0
  if kind == "foreground":
    texture = images.resize(patch if patch is not None else still[::-1], (h, w))
    radius = 0.22 * min(h, w)
    disk_centers = [((w - 1) / 2 + 3.0 * speed * (t - (frames - 1) / 2), (h - 1) / 2 + 0.5 * speed * t)
                    for t in range(frames)]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    for t, (cx, cy) in enumerate(disk_centers):
      inside = (cols - cx) ** 2 + (rows - cy) ** 2 <= radius ** 2
      # the texture travels with the disk: it is sampled at x - c_t + the texture's centre
      moved = cv2.remap(texture, cols - cx + (w - 1) / 2, rows - cy + (h - 1) / 2, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT_101)
      rendered[t][inside] = moved[inside]
  return SyntheticClip(frames=images.to_uint8(rendered), cameras=cameras, disk_centers=disk_centers,
                       disk_radius=radius)
