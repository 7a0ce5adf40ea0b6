"""Quadratic landscapes with a chosen Hessian, shared by the curvature tests."""

import jax.numpy as jnp
import numpy as np

from landform.landscape import Landscape


def quadratic(eigenvalues, seed=0):
    """L(θ) = ½ θᵀAθ with A = Q diag(eigenvalues) Qᵀ for a random rotation Q; returns (landscape, A)."""
    eigenvalues = np.asarray(eigenvalues, np.float64)
    n = eigenvalues.size
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    a = (q * eigenvalues) @ q.T
    a32 = jnp.asarray(a, jnp.float32)
    landscape = Landscape.from_function(lambda t: 0.5 * t @ (a32 @ t), n, theta=jnp.zeros(n))
    return landscape, a
