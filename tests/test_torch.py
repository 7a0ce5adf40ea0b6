"""PyTorch models: checkpoints load into their JAX twins (outputs and gradients agree), and a
landscape evaluated by PyTorch gives the twin's per-example losses and exit radii."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from landform.errors import ConfigError, ShapeError  # noqa: E402
from landform.landscape import Chunking, Landscape  # noqa: E402
from landform.losses import get_loss  # noqa: E402
from landform.models import build, cnn, lenet5, mlp  # noqa: E402
from landform.models.torch import (  # noqa: E402
    TorchLandscape,
    load_state_dict,
    torch_images,
    twin,
    twin_order,
)
from landform.volume import exit_radii, random_directions  # noqa: E402


class ProjectMLP(nn.Module):
    """The minima-volume project's MLP layout: flatten, then nn.Sequential under `model`."""

    def __init__(self, inputs, hidden, outputs):
        super().__init__()
        layers, width = [], inputs
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.model = nn.Sequential(*layers, nn.Linear(width, outputs))

    def forward(self, x):
        return self.model(torch.flatten(x, 1))


class ProjectCNN(nn.Module):
    """The project's CNN layout: `conv_layers` (3×3 conv, ReLU, 2×2 max-pool), then `fc_layers`."""

    def __init__(self, channels, dense, outputs, in_channels=1, side=28):
        super().__init__()
        layers, previous = [], in_channels
        for size in channels:
            layers += [nn.Conv2d(previous, size, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2)]
            previous, side = size, side // 2
        self.conv_layers = nn.Sequential(*layers)
        fc, width = [], previous * side * side
        for size in dense:
            fc += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.fc_layers = nn.Sequential(*fc, nn.Linear(width, outputs))

    def forward(self, x):
        return self.fc_layers(torch.flatten(self.conv_layers(x), 1))


def lenet_module():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.Tanh(),
        nn.Linear(120, 84),
        nn.Tanh(),
        nn.Linear(84, 10),
    )


CASES = {
    "mlp": (lambda: ProjectMLP(784, [32, 16], 10), lambda: mlp((784,), [32, 16], 10), (784,)),
    "cnn": (lambda: ProjectCNN([4, 8], [16], 10), lambda: cnn((28, 28, 1), [4, 8], [16], 10), (28, 28, 1)),
    "cnn_rgb": (
        lambda: ProjectCNN([4], [8], 3, in_channels=3, side=8),
        lambda: cnn((8, 8, 3), [4], [8], 3),
        (8, 8, 3),
    ),
    "mlp_rgb": (lambda: ProjectMLP(48, [8], 3), lambda: mlp((4, 4, 3), [8], 3), (4, 4, 3)),
    "lenet5": (lenet_module, lambda: lenet5((28, 28, 1), 10, activation="tanh"), (28, 28, 1)),
}


def data(shape, n=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)), rng.integers(0, classes, n)


def torch_layout(x, shape):
    """What the PyTorch network takes: images as (N, C, H, W), flat inputs as they are."""
    return torch_images(x, shape).double() if len(shape) == 3 else torch.as_tensor(x)


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_loads_into_the_twin_outputs_and_gradients_agree(name):
    make_module, make_model, shape = CASES[name]
    torch.manual_seed(0)
    module = make_module().double()
    model = make_model()
    x, y = data(shape)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), load_state_dict(model, module.state_dict()))
        inputs = jnp.asarray(x)
        outputs = np.asarray(model.apply(params, inputs))
        loss = get_loss("cross_entropy")
        grads = jax.grad(lambda p: jnp.mean(loss.per_example(model.apply(p, inputs), jnp.asarray(y))))(params)
    expected = module(torch_layout(x, shape))
    torch.nn.functional.cross_entropy(expected, torch.as_tensor(y)).backward()
    np.testing.assert_allclose(outputs, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    # gradients transform like the weights: load PyTorch's gradients as a "checkpoint"
    torch_grads = load_state_dict(model, {k: p.grad for k, p in module.named_parameters()})
    with jax.enable_x64(True):
        torch_grads = jax.tree.map(lambda a: np.asarray(a, np.float64), torch_grads)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(torch_grads)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-9)


def test_twin_recognises_architectures_and_refuses_others():
    torch.manual_seed(0)
    model, _ = twin(ProjectCNN([4, 8], [16], 10), (784,))
    assert model.spec == build(model.spec).spec and model.spec["channels"] == [4, 8]
    with pytest.raises(ConfigError, match="BatchNorm1d has no twin"):
        twin(nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1)), (2,))

    class Skip(nn.Module):  # the layers of an MLP, but a forward pass with a skip connection
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.b(x + torch.relu(self.a(x)))

    with pytest.raises(ConfigError, match="no Linear|not an MLP|outputs differ"):
        twin(Skip(), (4,))
    with pytest.raises(ShapeError, match="layer Dense_0/kernel"):
        load_state_dict(mlp((10,), [4], 2), ProjectMLP(12, [4], 2).state_dict())


def landscapes(name, n=60, seed=0):
    """The PyTorch landscape and the twin's JAX landscape in the same coordinates (θ in
    ``named_parameters`` order: the twin reads θ through :func:`twin_order`)."""
    make_module, make_model, shape = CASES[name]
    torch.manual_seed(seed)
    module = make_module().eval()
    x, y = data(shape, n=n, classes=3 if "rgb" in name else 10, seed=seed)
    x = x.astype(np.float32)
    model, params = twin(module, shape)
    order = jnp.asarray(twin_order(model, module))
    from landform.flat import ravel

    _, unravel = ravel(params)
    theta = torch.cat([p.detach().reshape(-1) for p in module.parameters()]).numpy()
    twin_landscape = Landscape.from_apply(lambda v, xs: model.apply(unravel(v[order]), xs), jnp.asarray(theta), x, y)
    inputs = torch_images(x, shape) if len(shape) == 3 else torch.as_tensor(x)
    return TorchLandscape(module, inputs, y, "cross_entropy"), twin_landscape, model, params


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_torch_landscape_gives_the_twins_losses_and_exit_radii(name):
    torch_landscape, twin_landscape, model, params = landscapes(name)
    assert torch_landscape.dim == twin_landscape.dim
    np.testing.assert_array_equal(torch_landscape.theta, twin_landscape.theta)
    # the same directions in both: filter normalisation along axis 0 of PyTorch's weights is
    # the twin's along axis -1 (the same diagonal map, permuted)
    directions = random_directions(
        jax.random.key(3), torch_landscape.theta, torch_landscape.layout, unit_axis=torch_landscape.unit_axis
    )
    jax_directions = random_directions(jax.random.key(3), model_theta(params), params, unit_axis=model.unit_axis)
    np.testing.assert_allclose(directions.log_jacobian, jax_directions.log_jacobian, rtol=1e-6)
    thetas = torch_landscape.theta + 0.3 * directions.batch(np.arange(5))
    ours = torch_landscape.per_example_batch(thetas)
    theirs = twin_landscape.per_example_batch(thetas)
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-6)
    np.testing.assert_array_equal(
        torch_landscape.per_example_batch(thetas, metric="correct"),
        twin_landscape.per_example_batch(thetas, metric="correct"),
    )
    # chunked over vectors and examples, and nested prefixes, give the same values
    np.testing.assert_allclose(
        torch_landscape.per_example_batch(thetas, chunking=Chunking(2, 7)), ours, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        torch_landscape.prefix_losses_batch(thetas, [10, 60]),
        twin_landscape.prefix_losses_batch(thetas, [10, 60]),
        rtol=2e-5,
    )
    threshold = float(torch_landscape.loss(torch_landscape.theta)) * 1.5
    settings = {"sizes": [20, 60], "max_radius": 10.0, "tolerance": 1e-4}
    ours = exit_radii(torch_landscape, directions, 6, [threshold], **settings)
    theirs = exit_radii(twin_landscape, directions, 6, [threshold], **settings)
    np.testing.assert_allclose(ours.radii, theirs.radii, rtol=1e-3)
    assert np.isfinite(ours.radii).all() and (ours.radii > 0).all()


def model_theta(params):
    from landform.flat import ravel

    return ravel(params)[0]


def test_buffers_are_frozen_training_mode_warns_and_gradients_are_refused():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 2))
    module(torch.randn(32, 3))  # training mode: the running statistics move away from 0 and 1
    x, y = data((3,), n=12, classes=2)
    x = x.astype(np.float32)
    with pytest.warns(UserWarning, match="training mode"):
        landscape = TorchLandscape(module, x, y, "cross_entropy")
    assert module.training  # the caller's module is left as it was
    names = [s.path for s in landscape.layout]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert landscape.dim == 3 * 5 + 5 + 5 + 5 + 5 * 2 + 2  # running mean and variance are not in θ
    module.eval()
    with torch.no_grad():
        expected = nn.functional.cross_entropy(module(torch.as_tensor(x)), torch.as_tensor(y), reduction="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = TorchLandscape(module, x, y, "cross_entropy")
    np.testing.assert_allclose(again.per_example(again.theta), expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(landscape.subset(5).per_example(landscape.theta), expected.numpy()[:5], rtol=1e-6)
    with pytest.raises(ConfigError, match="no JAX gradients"):
        landscape.value_and_grad(landscape.theta)
    state = landscape.state_dict(landscape.theta)
    assert set(state) == set(module.state_dict())
