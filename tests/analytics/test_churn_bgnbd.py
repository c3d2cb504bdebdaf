"""The BG/NBD maths (analytics.bgnbd): the fit recovers parameters the data was simulated from,
the predictions match the paper's worked example, grouping rows does not change the
likelihood."""

import numpy as np
import pytest

from analytics import bgnbd

PAPER = bgnbd.Params(0.243, 4.414, 0.793, 2.426)  # CDNOW, Fader, Hardie and Lee (2005)


def test_the_fit_recovers_known_parameters_from_simulated_customers():
    rng = np.random.default_rng(20050101)
    # Three cohorts of first purchases, watched for 27 to 39 weeks, on whole days.
    T = rng.integers(27 * 7, 39 * 7 + 1, size=6000) / 7.0
    x, t_x, T = bgnbd.simulate(PAPER, T, rng)
    t_x = np.floor(t_x * 7) / 7
    summary = bgnbd.summarise(x, t_x, T)
    assert summary.customers == 6000 and len(summary.x) < 6000  # rows were grouped

    found = bgnbd.fit(summary)

    assert found.converged
    got = found.params
    assert got.r == pytest.approx(PAPER.r, rel=0.15)
    assert got.alpha == pytest.approx(PAPER.alpha, rel=0.25)
    assert got.a == pytest.approx(PAPER.a, rel=0.35)
    assert got.b == pytest.approx(PAPER.b, rel=0.35)
    # The optimum is at least as likely as the truth.
    assert found.log_likelihood >= bgnbd.log_likelihood(PAPER, summary) - 1e-6


def test_predictions_match_the_papers_worked_example():
    # Section 6: x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks.
    params = bgnbd.Params(0.2426, 4.4136, 0.7931, 2.4259)
    expected = bgnbd.conditional_expected_purchases(params, 39, [2], [30.43], [38.86])
    assert expected[0] == pytest.approx(1.226, abs=0.001)
    # Without a repeat purchase a customer cannot have dropped out yet.
    assert bgnbd.p_alive(params, [0], [0], [38.86])[0] == 1.0
    # The longer since the last purchase, the less likely alive.
    alive = bgnbd.p_alive(params, [3, 3, 3], [30, 20, 5], [38, 38, 38])
    assert alive[0] > alive[1] > alive[2]
    # E[X(t)] grows with t and starts at zero.
    grown = bgnbd.expected_purchases(params, [0.0, 13, 39, 78])
    assert grown[0] == pytest.approx(0.0) and np.all(np.diff(grown) > 0)


def test_grouped_rows_give_the_same_likelihood_as_customers_one_by_one():
    x = np.array([0, 0, 2, 2, 5, 0])
    t_x = np.array([0, 0, 10, 10, 30.5, 0])
    T = np.array([40, 40, 38, 38, 39, 20])
    one_by_one = bgnbd.log_likelihood_terms(PAPER, x, t_x, T).sum()
    grouped = bgnbd.summarise(x, t_x, T)
    assert len(grouped.x) == 4 and grouped.repeaters == 3
    assert bgnbd.log_likelihood(PAPER, grouped) == pytest.approx(one_by_one)


def test_fitting_nobody_is_refused():
    with pytest.raises(ValueError):
        bgnbd.fit(bgnbd.summarise([], [], []))


def test_the_gradient_the_fit_follows_is_the_likelihoods_slope():
    rng = np.random.default_rng(5)
    x, t_x, T = bgnbd.simulate(PAPER, rng.integers(190, 270, size=3000) / 7.0, rng)
    summary = bgnbd.summarise(x, np.floor(t_x * 7) / 7, T)
    at = bgnbd.Params(0.5, 3.0, 1.2, 3.3)
    slopes = []
    for i in range(4):
        up, down = list(at.as_tuple()), list(at.as_tuple())
        step = 1e-6 * up[i]
        up[i] += step
        down[i] -= step
        rise = bgnbd.log_likelihood(bgnbd.Params(*up), summary) - bgnbd.log_likelihood(
            bgnbd.Params(*down), summary
        )
        slopes.append(rise / (2 * step))
    assert bgnbd.log_likelihood_gradient(at, summary) == pytest.approx(slopes, rel=1e-5)
