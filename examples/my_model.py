"""A model of your own, in a file of your own: the example the README starts with.

``configs/volume/own_flax_model.yaml`` names :func:`flax_mlp` as ``examples.my_model:flax_mlp``
and ``configs/volume/own_torch_model.yaml`` names :func:`torch_mlp`; run either from the
repository root with ``landform run CONFIG --variant quick``.
"""

from collections.abc import Sequence

import flax.linen as nn
import jax


class ResidualMLP(nn.Module):
    """Dense layers with skip connections: h ← h + relu(W h + b), then a linear read-out."""

    width: int
    depth: int
    outputs: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Dense(self.width)(x.reshape((x.shape[0], -1)))
        for _ in range(self.depth):
            h = h + nn.relu(nn.Dense(self.width)(h))
        return nn.Dense(self.outputs)(h)


def flax_mlp(width: int = 32, depth: int = 2, outputs: int = 1) -> nn.Module:
    """The factory a config names: its keyword arguments come from the config's ``options``."""
    return ResidualMLP(width, depth, outputs)


def torch_mlp(input_shape: Sequence[int], hidden: Sequence[int] = (32, 32), outputs: int = 1):
    """A PyTorch module (``input_shape`` is passed by landform: the shape of one example)."""
    import math

    import torch.nn as tnn

    layers, width = [tnn.Flatten()], math.prod(input_shape)
    for size in hidden:
        layers += [tnn.Linear(width, size), tnn.ReLU()]
        width = size
    return tnn.Sequential(*layers, tnn.Linear(width, outputs))
