"""Differentially private release of a count: discrete Laplace noise from OpenDP, then
suppression of small results.

A count of distinct patients changes by at most one when one patient joins or leaves
(sensitivity 1), so noise of scale 1/epsilon from the discrete Laplace (two-sided geometric)
mechanism makes one release epsilon-differentially private; OpenDP's privacy map checks that
claim for every scale we use. What is released is then suppressed below the threshold every
count about patients keeps (research/disclosure.py).
"""

from __future__ import annotations

import functools

import opendp.prelude as dp

SENSITIVITY = 1
MECHANISM = "discrete_laplace"
CONFIDENCE = 0.95  # the accuracy shown: |noise| stays within it with this probability


def scale_for(epsilon: float) -> float:
    """The noise scale that spends `epsilon` on a count of sensitivity 1."""
    return SENSITIVITY / epsilon


@functools.lru_cache(maxsize=256)
def _mechanism(scale: float) -> dp.Measurement:
    # OpenDP gates its mechanisms behind "contrib" (not yet formally vetted by its committee):
    # set once, when the first mechanism is built, never at import time.
    dp.enable_features("contrib")
    return dp.m.make_laplace(dp.atom_domain(T=int), dp.absolute_distance(T=int), scale=scale)


def spent_by(epsilon: float) -> float:
    """The epsilon OpenDP's privacy map says one release at `scale_for(epsilon)` costs."""
    return _mechanism(scale_for(epsilon)).map(SENSITIVITY)


def noisy(count: int, *, epsilon: float) -> int:
    """Release `count` with discrete Laplace noise that spends `epsilon`."""
    return _mechanism(scale_for(epsilon))(count)


def accuracy(epsilon: float) -> int:
    """How far the noise may move a count, with CONFIDENCE (a whole number of patients)."""
    return int(dp.discrete_laplacian_scale_to_accuracy(scale_for(epsilon), 1 - CONFIDENCE))
