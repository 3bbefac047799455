"""An independent BLRM posterior for the tests: dense composite Gauss-Legendre quadrature in the
coordinates ``(eta, log beta)``, ``eta = logit P(DLT at one dose)``, over ranges found from the data.

Nothing here comes from :mod:`doseesc`.  The model is Neuenschwander, Branson & Gsponer's (Stat Med
2008;27:2420-39): ``logit p_j = log alpha + beta x_j`` with ``x_j = log(d_j / d_ref)`` and a bivariate
normal prior on ``(log alpha, log beta)``.  For a fixed ``log beta`` the log posterior is concave in
``log alpha`` (a logistic log-likelihood in its intercept plus a normal log density), so its
conditional mode is found by bisection on the (decreasing) derivative, and the ``eta`` range of that
row as where the log density falls :data:`DROP` below the row's maximum (bisection again).  The
``log beta`` range is where the rows' Laplace-approximated log masses lie within :data:`DROP` of the
largest, scanned over 14 prior standard deviations either side of the prior mean.  Inside those
ranges: composite Gauss-Legendre rules, the ``eta`` range split at every cut so that the events
``eta >= logit(cut)`` are unions of whole panels.  Slow (about a million nodes) but simple.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit, logit

DROP = 60.0
"""Ranges end where the log density is this far below its maximum (e^-60 ~ 1e-26)."""
NODES = 16
"""Gauss-Legendre nodes per panel."""


def _log_post(a, b, prior, x, n, y):
    """Log posterior (up to a constant) at ``a = log alpha``, ``b = log beta`` (broadcast)."""
    mean_a, sd_a, mean_b, sd_b, r = prior
    z1, z2 = (a - mean_a) / sd_a, (b - mean_b) / sd_b
    eta = a[..., None] + np.exp(b)[..., None] * x
    ll = (y * log_expit(eta) + (n - y) * log_expit(-eta)).sum(axis=-1)
    return ll - (z1 * z1 - 2 * r * z1 * z2 + z2 * z2) / (2 * (1 - r * r))


def _slope_a(a, b, prior, x, n, y):
    """The derivative of the log posterior in ``a`` (decreasing in ``a``)."""
    mean_a, sd_a, mean_b, sd_b, r = prior
    z1, z2 = (a - mean_a) / sd_a, (b - mean_b) / sd_b
    p = expit(a[..., None] + np.exp(b)[..., None] * x)
    return (y - n * p).sum(axis=-1) - (z1 - r * z2) / (sd_a * (1 - r * r))


def _row_modes(b, prior, x, n, y):
    """The mode in ``a`` of each row ``b``, by bisection of the derivative, and the curvature there."""
    lo, hi = np.full(b.shape, -400.0), np.full(b.shape, 400.0)
    for _ in range(80):
        mid = (lo + hi) / 2
        up = _slope_a(mid, b, prior, x, n, y) > 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    a = (lo + hi) / 2
    p = expit(a[..., None] + np.exp(b)[..., None] * x)
    curvature = (n * p * (1 - p)).sum(axis=-1) + 1 / (prior[1] ** 2 * (1 - prior[4] ** 2))
    return a, curvature


def _row_reach(a, b, top, sign, prior, x, n, y):
    """How far from the row modes ``a`` (direction ``sign``) the log density falls to ``top - DROP``."""
    lo, hi = np.zeros(a.shape), np.full(a.shape, 800.0)
    for _ in range(70):
        mid = (lo + hi) / 2
        above = _log_post(a + sign * mid, b, prior, x, n, y) > top - DROP
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return hi


def _legendre(lo, hi, panels):
    """Composite Gauss-Legendre nodes and weights on ``[lo, hi]`` (arrays broadcast; the rule is the
    last axis)."""
    z, w = np.polynomial.legendre.leggauss(NODES)
    edges = np.linspace(0.0, 1.0, panels + 1)
    half = np.diff(edges)[:, None] / 2
    t = ((edges[:-1, None] + half) + half * z).ravel()
    wt = (half * w).ravel()
    lo, hi = np.asarray(lo)[..., None], np.asarray(hi)[..., None]
    return lo + (hi - lo) * t, (hi - lo) * wt


def posterior_at_dose(prior, x, n, y, dose, cuts=(0.16, 0.33), b_panels=40, eta_panels=24):
    """``(P(p_dose >= cut) for each cut, E[p_dose])`` given per-dose patients ``n`` and DLTs ``y``.

    ``prior`` = ``(mean log alpha, sd log alpha, mean log beta, sd log beta, correlation)``; ``x`` the
    doses' ``log(d / d_ref)``.  ``b_panels`` and ``eta_panels`` (per piece between cuts) set the rule's
    size (doubling them checks convergence)."""
    prior = tuple(float(v) for v in prior)
    x, n, y = (np.asarray(v, dtype=float) for v in (x, n, y))
    args = (prior, x, n, y)
    # log beta range: rows' Laplace log masses within DROP of the largest.
    scan = prior[2] + prior[3] * np.linspace(-14, 14, 2801)
    a, curvature = _row_modes(scan, *args)
    mass = _log_post(a, scan, *args) - 0.5 * np.log(curvature)
    keep = np.flatnonzero(mass > mass.max() - DROP)
    if keep[0] == 0 or keep[-1] == scan.shape[0] - 1:
        raise ValueError("the posterior of log beta reaches the scan's end")
    b, wb = _legendre(scan[keep[0] - 1], scan[keep[-1] + 1], b_panels)
    a, _ = _row_modes(b, *args)
    top = _log_post(a, b, *args)
    shift = np.exp(b) * x[dose]
    lo = a - _row_reach(a, b, top, -1.0, *args) + shift
    hi = a + _row_reach(a, b, top, 1.0, *args) + shift
    # eta pieces between the cuts (a cut outside a row's range gives an empty piece there)
    stops = np.sort(logit(np.asarray(cuts, dtype=float)))
    bounds = [lo, *(np.clip(c, lo, hi) for c in stops), hi]
    above = np.zeros(len(cuts))
    total = mean = 0.0
    ref = top.max()
    for piece in range(len(bounds) - 1):
        eta, we = _legendre(bounds[piece], bounds[piece + 1], eta_panels)  # (b nodes, eta nodes)
        f = np.exp(_log_post(eta - shift[:, None], b[:, None], *args) - ref) * we * wb[:, None]
        mass_piece = f.sum()
        total += mass_piece
        mean += (f * expit(eta)).sum()
        above[:piece] += mass_piece  # the piece lies above the cuts below it
    order = np.argsort(logit(np.asarray(cuts, dtype=float)))
    out = np.empty(len(cuts))
    out[order] = above / total
    return out, mean / total
