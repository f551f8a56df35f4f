"""The noise OpenDP adds: unbiased, of the variance its scale says, on whole numbers; and
small results suppressed. Many draws against the noise function itself (fast); bounds of six
standard errors, so a correct mechanism fails about once in a billion runs."""

import math

import pytest

from consent_api.cohorts import noise
from consent_api.research.disclosure import Released, release, release_exact

DRAWS = 4000


def _variance(scale: float) -> float:
    """The variance of the discrete Laplace with P(k) proportional to exp(-|k| / scale)."""
    p = math.exp(-1 / scale)
    return 2 * p / (1 - p) ** 2


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 1.0])
def test_noisy_counts_are_unbiased_with_the_variance_of_their_scale(epsilon):
    true = 1000
    draws = [noise.noisy(true, epsilon=epsilon) for _ in range(DRAWS)]
    assert all(isinstance(d, int) for d in draws)
    variance = _variance(noise.scale_for(epsilon))
    mean = sum(draws) / DRAWS
    assert abs(mean - true) <= 6 * math.sqrt(variance / DRAWS)
    sample_variance = sum((d - mean) ** 2 for d in draws) / (DRAWS - 1)
    # The discrete Laplace has excess kurtosis about 3: the sample variance's standard error
    # is about variance * sqrt(5 / DRAWS), 3.5 % here; six of them is 21 %.
    assert abs(sample_variance - variance) <= 6 * variance * math.sqrt(5 / DRAWS)


def test_noise_is_really_there():
    draws = {noise.noisy(1000, epsilon=0.1) for _ in range(200)}
    assert len(draws) > 10  # scale 10: two hundred equal draws would be a broken mechanism


def test_a_smaller_epsilon_buys_wider_noise():
    assert noise.scale_for(0.1) == pytest.approx(10)
    assert noise.accuracy(0.1) > noise.accuracy(1.0) > 0


def test_opendp_says_a_release_costs_the_epsilon_asked():
    for epsilon in (0.01, 0.1, 0.37, 1.0):
        assert noise.spent_by(epsilon) == pytest.approx(epsilon)


@pytest.mark.parametrize(
    ("value", "released"),
    [
        (-3, Released(None, 11)),
        (0, Released(None, 11)),
        (10, Released(None, 11)),
        (11, Released(11, None)),
    ],
)
def test_results_below_the_threshold_are_suppressed(value, released):
    assert release(value) == released


@pytest.mark.parametrize(
    ("value", "shown"), [(0, None), (10, None), (11, 10), (12, 10), (13, 15), (17, 15), (18, 20)]
)
def test_exact_counts_are_suppressed_then_rounded_to_five(value, shown):
    assert release_exact(value).count == shown
