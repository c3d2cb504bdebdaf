"""The BG/NBD model (Fader, Hardie and Lee 2005, "Counting Your Customers the Easy Way"):
its log-likelihood, the maximum-likelihood fit, and what a fit predicts per customer.

Inputs are per customer: x (repeat purchase days), t_x (weeks from the first to the last
purchase day) and T (weeks from the first purchase day to the as-of date). Everything is
vectorised over numpy arrays; the fit works on the unique (x, t_x, T) combinations with their
counts as weights, which on whole-day data is far fewer rows than customers.

No Django here: the analytics refresh (analytics.churn) and the benchmark's pandas baseline
(bench/analytics_fit.py) both call it."""

from __future__ import annotations

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


def summarise(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Summary:
    """Collapse per-customer rows into unique (x, t_x, T) rows with counts."""
    rows = np.column_stack(
        [np.asarray(x, dtype=float), np.asarray(t_x, dtype=float), np.asarray(T, dtype=float)]
    )
    if rows.size == 0:
        empty = np.zeros(0)
        return Summary(empty, empty, empty, empty)
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return Summary(unique[:, 0], unique[:, 1], unique[:, 2], counts.astype(float))


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


def log_likelihood(params: Params, summary: Summary) -> float:
    terms = log_likelihood_terms(params, summary.x, summary.t_x, summary.T)
    return float(np.dot(summary.weight, terms))


def _negative(log_params: Array, summary: Summary, scale: float) -> float:
    r, alpha, a, b = np.exp(log_params)
    value = log_likelihood(Params(r, alpha, a, b), summary)
    if not math.isfinite(value):
        return 1e300
    # Per customer, so the optimiser's tolerances mean the same for any tenant size.
    return -value / scale


def fit(summary: Summary, *, start: Params | None = None) -> Fit:
    """Maximum likelihood over log(r, α, a, b) with L-BFGS-B; Nelder-Mead from its end point
    when L-BFGS-B reports no convergence (flat directions in small data)."""
    if summary.customers == 0:
        raise ValueError("no customers to fit")
    scale = float(summary.customers)
    if start is None:
        # α is on the time scale of T (weeks): start it at the mean customer age.
        mean_T = float(np.dot(summary.weight, summary.T) / scale)
        start = Params(1.0, max(mean_T, 1e-3), 1.0, 1.0)
    x0 = np.log(np.array(start.as_tuple()))
    bounds = [(-LOG_BOUND, LOG_BOUND)] * 4
    found = optimize.minimize(
        _negative, x0, args=(summary, scale), method="L-BFGS-B", bounds=bounds
    )
    iterations = int(found.nit)
    if not found.success:
        polished = optimize.minimize(
            _negative,
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
