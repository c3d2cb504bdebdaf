"""The BG/NBD model (Fader, Hardie and Lee 2005, "Counting Your Customers the Easy Way"):
its log-likelihood, the maximum-likelihood fit, and what a fit predicts per customer.

Inputs are per customer: x (repeat purchase days), t_x (weeks from the first to the last
purchase day) and T (weeks from the first purchase day to the as-of date). Everything is
vectorised over numpy arrays; the fit works on the unique (x, t_x, T) combinations with their
counts as weights, which on whole-day data is far fewer rows than customers.

No Django here: the analytics refresh (analytics.churn) and the benchmark's pandas baseline
(bench/analytics_fit.py) both call it."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

Array = NDArray[np.float64]

# Bounds on the log-parameters: wide enough for any real purchase data (weeks as the time
# unit), narrow enough that the optimiser never evaluates exp() into overflow.
LOG_BOUND = 12.0


@dataclass(frozen=True)
class Params:
    r: float
    alpha: float
    a: float
    b: float

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.r, self.alpha, self.a, self.b)


@dataclass(frozen=True)
class Fit:
    params: Params
    log_likelihood: float  # summed over customers (not per customer)
    converged: bool
    iterations: int
    message: str


@dataclass(frozen=True)
class Summary:
    """Per-customer data reduced to unique rows with weights (what the fit needs)."""

    x: Array
    t_x: Array
    T: Array
    weight: Array

    @property
    def customers(self) -> int:
        return int(self.weight.sum())

    @property
    def repeaters(self) -> int:
        return int(self.weight[self.x > 0].sum())

    @functools.cached_property
    def by_frequency(self) -> tuple[Array, Array]:
        """(the distinct x, their summed weights): the likelihood's Gamma-function terms depend
        on x alone, so they are computed once per distinct x (tens), not per row (thousands)."""
        xs, inverse = np.unique(self.x, return_inverse=True)
        summed = np.bincount(inverse, weights=self.weight, minlength=xs.size).astype(float)
        return xs, summed


def summarise(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Summary:
    """Collapse per-customer rows into unique (x, t_x, T) rows with counts (a lexsort and
    one pass: several times faster than np.unique over rows)."""
    xa, ta, Ta = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    if xa.size == 0:
        empty = np.zeros(0)
        return Summary(empty, empty, empty, empty)
    order = np.lexsort((Ta, ta, xa))
    xa, ta, Ta = xa[order], ta[order], Ta[order]
    new_row = np.empty(xa.size, dtype=bool)
    new_row[0] = True
    new_row[1:] = (np.diff(xa) != 0) | (np.diff(ta) != 0) | (np.diff(Ta) != 0)
    starts = np.flatnonzero(new_row)
    counts = np.diff(np.append(starts, xa.size)).astype(float)
    return Summary(xa[starts], ta[starts], Ta[starts], counts)


def log_likelihood_terms(params: Params, x: Array, t_x: Array, T: Array) -> Array:
    """Each customer's log-likelihood (equation 6 of the paper, in logs):
    ln L = ln[Γ(r+x) α^r / Γ(r)] + ln[B(a, b+x) / B(a, b)]
           + ln[(α+T)^-(r+x) + 1{x>0} a/(b+x-1) (α+t_x)^-(r+x)]."""
    r, alpha, a, b = params.as_tuple()
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha)
    a2 = (
        special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    # For x = 0 the second term is absent; b + x - 1 would be b - 1 (maybe negative) there.
    safe = np.where(repeat, b + x - 1.0, 1.0)
    a4 = np.log(a) - np.log(safe) - (r + x) * np.log(alpha + t_x)
    return a1 + a2 + np.where(repeat, np.logaddexp(a3, a4), a3)


def _weighted_sum(weight: Array, values: Array) -> float:
    """Σ weight × values. Not np.dot: BLAS threads cost milliseconds per call on a busy
    machine, and the fit makes hundreds of these sums."""
    return float(np.sum(weight * values))


def _gamma_terms(params: Params, x: Array) -> Array:
    """ln[Γ(r+x) α^r / Γ(r)] + ln[B(a, b+x) / B(a, b)]: the part that depends on x alone."""
    r, alpha, a, b = params.as_tuple()
    return (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * math.log(alpha)
        + special.gammaln(a + b)
        + special.gammaln(b + x)
        - special.gammaln(b)
        - special.gammaln(a + b + x)
    )


def _bracket_logs(params: Params, summary: Summary) -> tuple[Array, Array, Array, Array]:
    """A3, A4 (the logs of the last bracket's two terms), ln(α+T), ln(α+t_x), per row."""
    r, alpha, a, b = params.as_tuple()
    x = summary.x
    repeat = x > 0
    # For x = 0 the second term is absent; b + x - 1 would be b - 1 (maybe negative) there.
    safe = np.where(repeat, b + x - 1.0, 1.0)
    log_T = np.log(alpha + summary.T)
    log_t_x = np.log(alpha + summary.t_x)
    a3 = -(r + x) * log_T
    a4 = np.where(repeat, np.log(a) - np.log(safe) - (r + x) * log_t_x, -np.inf)
    return a3, a4, log_T, log_t_x


def log_likelihood(params: Params, summary: Summary) -> float:
    """The summed log-likelihood (equal to log_likelihood_terms summed with the weights)."""
    xs, x_weight = summary.by_frequency
    a3, a4, _log_T, _log_t_x = _bracket_logs(params, summary)
    return float(
        _weighted_sum(x_weight, _gamma_terms(params, xs))
        + _weighted_sum(summary.weight, np.logaddexp(a3, a4))
    )


def log_likelihood_gradient(params: Params, summary: Summary) -> Array:
    """d(log-likelihood)/d(r, α, a, b), summed with the weights."""
    return _value_and_gradient(params, summary)[1]


def _value_and_gradient(params: Params, summary: Summary) -> tuple[float, Array]:
    """The log-likelihood and its gradient from one pass over the rows. With L the log of the
    last bracket, w3 = e^(A3 - L) and w4 = e^(A4 - L) are the shares of its two terms (w3 = 1
    and w4 = 0 without a repeat purchase), and each derivative is the terms' derivatives mixed
    by them; ψ is the digamma function."""
    r, alpha, a, b = params.as_tuple()
    x, t_x, T, weight = summary.x, summary.t_x, summary.T, summary.weight
    xs, x_weight = summary.by_frequency
    a3, a4, log_T, log_t_x = _bracket_logs(params, summary)
    value = _weighted_sum(x_weight, _gamma_terms(params, xs)) + _weighted_sum(
        weight, np.logaddexp(a3, a4)
    )
    w4 = special.expit(a4 - a3)  # 0 where a4 = -inf (no repeat purchase)
    # Shares below 1e-200 are 0 for the sums, and as subnormal floats they would make every
    # product with them many times slower.
    w4[w4 < 1e-200] = 0.0
    w3 = 1.0 - w4
    repeat = x > 0
    safe = np.where(repeat, b + x - 1.0, 1.0)
    # Per distinct x: the Gamma-function terms' derivatives.
    digamma_ab = special.digamma(a + b)
    digamma_abx = special.digamma(a + b + xs)
    g_r = special.digamma(r + xs) - special.digamma(r) + math.log(alpha)
    g_a = digamma_ab - digamma_abx
    g_b = digamma_ab + special.digamma(b + xs) - special.digamma(b) - digamma_abx
    d_r = _weighted_sum(x_weight, g_r) - _weighted_sum(weight, w3 * log_T + w4 * log_t_x)
    d_alpha = r / alpha * x_weight.sum() - _weighted_sum(
        weight, (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    )
    d_a = _weighted_sum(x_weight, g_a) + _weighted_sum(weight, w4) / a
    d_b = _weighted_sum(x_weight, g_b) - _weighted_sum(weight, np.where(repeat, w4 / safe, 0.0))
    return value, np.array([d_r, d_alpha, d_a, d_b])


def _negative(log_params: Array, summary: Summary, scale: float) -> tuple[float, Array]:
    """Minus the log-likelihood per customer, and its gradient in the log-parameters."""
    theta = np.exp(log_params)
    value, gradient = _value_and_gradient(Params(*(float(v) for v in theta)), summary)
    if not math.isfinite(value) or not np.all(np.isfinite(gradient)):
        return 1e300, np.zeros(4)
    # Per customer, so the optimiser's tolerances mean the same for any tenant size.
    return -value / scale, -gradient * theta / scale


def _negative_value(log_params: Array, summary: Summary, scale: float) -> float:
    return _negative(log_params, summary, scale)[0]


def fit(summary: Summary, *, start: Params | None = None) -> Fit:
    """Maximum likelihood over log(r, α, a, b) with L-BFGS-B; Nelder-Mead from its end point
    when L-BFGS-B reports no convergence (flat directions in small data)."""
    if summary.customers == 0:
        raise ValueError("no customers to fit")
    scale = float(summary.customers)
    if start is None:
        # α is on the time scale of T (weeks): start it at the mean customer age.
        mean_T = float(_weighted_sum(summary.weight, summary.T) / scale)
        start = Params(1.0, max(mean_T, 1e-3), 1.0, 1.0)
    x0 = np.log(np.array(start.as_tuple()))
    bounds = [(-LOG_BOUND, LOG_BOUND)] * 4
    found = optimize.minimize(
        _negative, x0, args=(summary, scale), method="L-BFGS-B", jac=True, bounds=bounds
    )
    iterations = int(found.nit)
    if not found.success:
        polished = optimize.minimize(
            _negative_value,
            np.clip(found.x, -LOG_BOUND, LOG_BOUND),
            args=(summary, scale),
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-10},
        )
        iterations += int(polished.nit)
        if polished.fun <= found.fun:
            found = polished
    r, alpha, a, b = (float(v) for v in np.exp(found.x))
    params = Params(r, alpha, a, b)
    value = log_likelihood(params, summary)
    converged = bool(found.success) and math.isfinite(value)
    return Fit(params, value, converged, iterations, str(found.message))


def p_alive(params: Params, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
    """P(alive | x, t_x, T) = 1 / (1 + 1{x>0} a/(b+x-1) ((α+T)/(α+t_x))^(r+x))."""
    r, alpha, a, b = params.as_tuple()
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    repeat = x > 0
    safe = np.where(repeat, b + x - 1.0, 1.0)
    log_odds = np.log(a) - np.log(safe) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    # expit(-z) = 1 / (1 + e^z), without overflow for large z.
    return np.where(repeat, special.expit(-log_odds), 1.0)


def conditional_expected_purchases(
    params: Params, t: float, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> Array:
    """E[Y(t) | x, t_x, T]: expected purchases in the next t weeks (equation 10)."""
    r, alpha, a, b = params.as_tuple()
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    repeat = x > 0
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1.0, t / (alpha + T + t))
    shrink = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    numerator = (a + b + x - 1.0) / (a - 1.0) * (1.0 - shrink * hyp)
    safe = np.where(repeat, b + x - 1.0, 1.0)
    odds = np.where(
        repeat,
        np.exp(np.log(a) - np.log(safe) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))),
        0.0,
    )
    return np.asarray(numerator / (1.0 + odds), dtype=float)


def expected_purchases(params: Params, t: ArrayLike) -> Array:
    """E[X(t)]: expected purchases in the first t weeks of a new customer (equation 9)."""
    r, alpha, a, b = params.as_tuple()
    t = np.asarray(t, dtype=float)
    hyp = special.hyp2f1(r, b, a + b - 1.0, t / (alpha + t))
    return np.asarray(
        (a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t)) ** r * hyp), dtype=float
    )


def simulate(params: Params, T: ArrayLike, rng: np.random.Generator) -> tuple[Array, Array, Array]:
    """(x, t_x, T) for customers observed for T weeks each, drawn from the model's story:
    Poisson purchases at rate λ ~ Gamma(r, α), dropping out after any purchase with
    probability p ~ Beta(a, b). Used to check the fit recovers known parameters."""
    T = np.asarray(T, dtype=float)
    n = T.size
    rates = rng.gamma(params.r, 1.0 / params.alpha, size=n)
    drops = rng.beta(params.a, params.b, size=n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):
        now, count, last = 0.0, 0, 0.0
        while True:
            now += rng.exponential(1.0 / rates[i])
            if now > T[i]:
                break
            count, last = count + 1, now
            if rng.random() < drops[i]:
                break
        x[i], t_x[i] = count, last
    return x, t_x, T
