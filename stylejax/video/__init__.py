"""Video style transfer with temporal consistency (issue 24), one responsibility per module:

  flows       the flow between any two frames of a clip: DIS, cached as .flo in the run, or brought
              by the user (--flow-dir); Ruder et al.'s reliability masks
  synthetic   test clips with a known answer: camera pans, zooms, rotations and a moving
              foreground, with their exact flow and occlusions
  stylizers   one frame in, one stylized frame out, for every network method (and pixel frames)
  consistency what makes per-frame outputs agree: post-hoc blending with the warped previous output
              under the reliability mask, and the EMA baseline
  pixel       Ruder et al.'s pixel optimization of a clip: temporal terms, warped initialisation
  run         `stylejax video`: the resumable per-frame run directory, the MP4s, the metric

Low-level pieces live lower: warping (stylejax.imaging.warp), DIS and the masks
(stylejax.imaging.flow), video and .flo files (stylejax.io.video, stylejax.io.flo), the warping
error (stylejax.evaluation.temporal), the temporal objective term (stylejax.objectives.terms.temporal).
"""
