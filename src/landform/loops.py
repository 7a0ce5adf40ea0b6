"""When to loop in Python instead of inside a compiled program.

On the CPU backend, XLA runs a convolution roughly ten times slower when it sits inside a
compiled loop (``lax.scan``, ``lax.map``, ``while_loop``) or a ``lax.cond`` than at the top
level of a jitted function (JAX issue #12868). Measured here: a LeNet-5 AdamW step on 480
images took 0.23 s as a plain jitted step and 4.2 s inside the training loop's scan; forward
evaluation (landscapes) showed no such difference, so only gradient loops are affected. Training
loops therefore drive epochs and minibatches from Python, one jitted step at a time, when
:func:`python_loops` says so.
"""

from __future__ import annotations

import jax


def has_convolution(fn, *args) -> bool:
    """Whether ``fn(*args)`` (traced, not run) contains a convolution."""
    return "conv_general_dilated" in str(jax.make_jaxpr(fn)(*args))


def python_loops(fn, *args) -> bool:
    """True on the CPU backend when ``fn(*args)`` contains a convolution."""
    return jax.default_backend() == "cpu" and has_convolution(fn, *args)
