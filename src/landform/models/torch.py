"""PyTorch models: checkpoints of the zoo's architectures as JAX twins, any module as a landscape.

Two ways in, both needing the ``torch`` extra (``pip install -e '.[torch]'``; PyTorch is imported
only when one of them is used, so the rest of landform works without it):

1. **Twins** (:func:`load_state_dict`, :func:`twin`). The zoo's MLP, CNN and LeNet-5 are the
   networks of the minima-volume project (Fan, Sandlund, Ko 2025, arXiv 2511.04808), which trains
   them in PyTorch. A PyTorch ``state_dict`` of one of them loads into the JAX model of the same
   shape, so minima trained in PyTorch are measured at JAX speed. Layouts: ``nn.Linear`` weights
   are (out, in) and become Flax kernels (in, out); ``nn.Conv2d`` weights (out, in, kh, kw) become
   (kh, kw, in, out); PyTorch flattens feature maps in (channels, height, width) order and Flax in
   (height, width, channels) order, so the rows of the first dense layer after the convolutions
   (and of an MLP's first layer on multi-channel images) are permuted to match. PyTorch models
   take images as (N, C, H, W) (:func:`torch_images` turns landform's (N, H, W, C) or flat
   images into that). :func:`twin` recognises such an architecture in a module, builds the twin
   and checks on random inputs that it computes what the module computes.

2. **Any module** (:class:`TorchLandscape`). A :class:`~landform.landscape.Landscape` whose
   evaluation runs in PyTorch: for parameter vectors θ_1..θ_m it computes the module's outputs
   f(θ_j, x_i) with ``torch.func.functional_call`` under ``torch.func.vmap`` over the vectors,
   in chunks over vectors and examples that keep the memory under the landscape's budget, and
   scores them with landform's own per-example loss (so a loss means the same in both
   backends). It serves every measurement that needs only loss values (exit radii, cutoffs,
   the grid protocol, planes, slices, videos); gradients are not available.

A **behavioural** landscape of any module with a predictive distribution
(:meth:`TorchLandscape.behavioural`) scores the module's outputs at θ by the mean KL divergence
from its outputs at θ*, as :func:`landform.behaviour.behavioural_landscape` does for JAX models;
θ*'s outputs are computed once by PyTorch and cached as targets within the memory budget, or
recomputed per chunk of examples when they do not fit.

Conventions of :class:`TorchLandscape`: θ is the concatenation of the module's trainable
parameters (``requires_grad``) in ``named_parameters()`` order, each flattened row-major
(:attr:`TorchLandscape.layout` names the slices); buffers (BatchNorm running statistics) are
frozen at their current values and are not part of θ; the module is evaluated in evaluation
mode (a module handed over in training mode gets a warning, and a copy of it is switched);
output units are on axis 0 of every weight (``unit_axis = 0`` for filter normalisation:
``random_directions(key, θ, landscape.layout, unit_axis=landscape.unit_axis)``).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from landform.behaviour import cache_fits, reference_targets
from landform.errors import ConfigError, ShapeError, check_finite
from landform.flat import LeafSlice, as_vectors
from landform.landscape import DEFAULT_MEMORY_BUDGET, Chunking, Cost, Landscape
from landform.losses import DISTRIBUTIONS, Loss, behavioural_loss, check_compatible, correct, get_loss
from landform.models.base import Model, Params
from landform.models.zoo import CONSTRUCTORS, image_shape

#: Zoo models a PyTorch checkpoint can be loaded into.
TWIN_MODELS = ("mlp", "tabular_mlp", "cnn", "lenet5")


def _torch():
    try:
        import torch
    except ImportError:
        raise ConfigError(
            "PyTorch is not installed; install landform with the torch extra: pip install -e '.[torch]' "
            "(the CPU build: add --extra-index-url https://download.pytorch.org/whl/cpu)"
        ) from None
    return torch


# ============================================================================ checkpoints -> JAX twins


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def _layers(state_dict: Mapping[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, weight, bias) of each layer of a state dict, in its order; buffers are refused."""
    layers: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state_dict.items():
        prefix, _, kind = key.rpartition(".")
        if kind not in ("weight", "bias"):
            raise ShapeError(
                f"state_dict entry {key!r} is neither a weight nor a bias (a buffer such as BatchNorm statistics); "
                f"the zoo's {', '.join(TWIN_MODELS)} have only dense and convolution layers"
            )
        layers.setdefault(prefix, {})[kind] = _numpy(value)
    out = []
    for prefix, tensors in layers.items():
        if "weight" not in tensors or "bias" not in tensors:
            raise ShapeError(f"layer {prefix!r} of the state_dict needs a weight and a bias, found {sorted(tensors)}")
        out.append((prefix, tensors["weight"], tensors["bias"]))
    return out


def _feature_map(spec: Mapping[str, Any]) -> tuple[int, int] | None:
    """(height, width) of the last feature map of a zoo CNN or LeNet-5 (None for MLPs)."""
    name = spec["name"]
    if name not in ("cnn", "lenet5"):
        return None
    height, width, _ = image_shape(name, tuple(spec["input_shape"]))
    if name == "cnn":
        for _ in spec["channels"]:
            height, width = height // 2, width // 2
        return height, width
    return (height // 2 - 4) // 2, (width // 2 - 4) // 2


def _chw_to_hwc_rows(weight: np.ndarray, channels: int, height: int, width: int) -> np.ndarray:
    """A dense weight (out, C·H·W) whose inputs are in PyTorch's (C, H, W) order, with its
    columns reordered to Flax's (H, W, C) order."""
    out = weight.shape[0]
    if weight.shape[1] != channels * height * width:
        raise ShapeError(
            f"a dense layer after feature maps of {channels}×{height}×{width} needs {channels * height * width} "
            f"inputs, the checkpoint's has {weight.shape[1]}"
        )
    return weight.reshape(out, channels, height, width).transpose(0, 2, 3, 1).reshape(out, -1)


def load_state_dict(model: Model, state_dict: Mapping[str, Any] | str | os.PathLike) -> Params:
    """The parameters of the zoo ``model`` (an MLP, CNN or LeNet-5) from a PyTorch ``state_dict``
    (or the path of a file saved with ``torch.save(module.state_dict(), path)``).

    The state dict holds, in order, each ``nn.Conv2d`` and then each ``nn.Linear`` layer's
    ``weight`` and ``bias`` (any key prefixes: ``model.0.weight``, ``conv_layers.3.bias``, ...).
    Weights are transposed to Flax's layout (see the module docstring) and the inputs of the
    first dense layer after (C, H, W) feature maps are reordered to (H, W, C). Shapes are checked
    layer by layer; a mismatch is a :class:`ShapeError` naming the layer.
    """
    if isinstance(state_dict, str | os.PathLike):
        state_dict = _torch().load(state_dict, map_location="cpu", weights_only=True)
    template = jax.eval_shape(model.init, jax.random.key(0))
    arrays = _converted(model, state_dict, template)
    return {
        "params": {
            name: {leaf: jnp.asarray(value, template["params"][name][leaf].dtype) for leaf, value in leaves.items()}
            for name, leaves in arrays.items()
        }
    }


def twin_order(model: Model, module: Any) -> np.ndarray:
    """The index array P with θ_twin = θ_torch[P]: where each entry of the twin's flat vector (JAX
    pytree order) sits in the module's flat vector (``named_parameters`` order, as in
    :class:`TorchLandscape`). Vectors and directions map between the two with it."""
    start, indices = 0, {}
    for name, parameter in module.named_parameters():
        indices[name] = np.arange(start, start + parameter.numel(), dtype=np.float64).reshape(tuple(parameter.shape))
        start += parameter.numel()
    template = jax.eval_shape(model.init, jax.random.key(0))
    arrays = _converted(model, indices, template)
    leaves = jax.tree_util.tree_leaves({"params": arrays})
    return np.concatenate([np.asarray(leaf).reshape(-1) for leaf in leaves]).astype(np.int64)


def _converted(model: Model, state_dict: Mapping[str, Any], template: Any) -> dict[str, dict[str, np.ndarray]]:
    """:func:`load_state_dict` before the cast to JAX arrays (NumPy arrays of the checkpoint's dtype)."""
    spec = model.spec
    if spec.get("name") not in TWIN_MODELS:
        raise ConfigError(
            f"PyTorch checkpoints load into the zoo's {', '.join(TWIN_MODELS)}; model {model.name!r} is not one"
        )
    names = list(template["params"])
    convs = sorted((n for n in names if n.startswith("Conv_")), key=lambda n: int(n.split("_")[1]))
    denses = sorted((n for n in names if n.startswith("Dense_")), key=lambda n: int(n.split("_")[1]))
    layers = _layers(state_dict)
    torch_convs = [layer for layer in layers if layer[1].ndim == 4]
    torch_denses = [layer for layer in layers if layer[1].ndim == 2]
    if len(torch_convs) + len(torch_denses) != len(layers) or layers != torch_convs + torch_denses:
        raise ShapeError("the state_dict must hold the convolution layers first, then the dense layers")
    if (len(torch_convs), len(torch_denses)) != (len(convs), len(denses)):
        raise ShapeError(
            f"model {spec['name']!r} has {len(convs)} convolution and {len(denses)} dense layers; the state_dict has "
            f"{len(torch_convs)} and {len(torch_denses)} ({', '.join(layer[0] for layer in layers)})"
        )
    params: dict[str, dict[str, np.ndarray]] = {}
    for name, (_, weight, bias) in zip(convs, torch_convs):
        params[name] = {"kernel": weight.transpose(2, 3, 1, 0), "bias": bias}
    feature_map = _feature_map(spec)
    for index, (name, (_, weight, bias)) in enumerate(zip(denses, torch_denses)):
        if index == 0 and feature_map is not None:
            weight = _chw_to_hwc_rows(weight, torch_convs[-1][1].shape[0], *feature_map)
        elif index == 0 and len(spec.get("input_shape", ())) == 3 and spec["input_shape"][2] > 1:
            height, width, channels = spec["input_shape"]
            weight = _chw_to_hwc_rows(weight, channels, height, width)
        params[name] = {"kernel": weight.T, "bias": bias}
    for name, leaves in params.items():
        for leaf, value in leaves.items():
            expected = template["params"][name][leaf]
            if value.shape != expected.shape:
                raise ShapeError(
                    f"layer {name}/{leaf} of model {spec['name']!r} has shape {expected.shape}, the checkpoint's "
                    f"(after transposing to Flax's layout) {value.shape}"
                )
    return params


def torch_images(x: Any, input_shape: Sequence[int]) -> Any:
    """Images as a PyTorch network takes them, (N, C, H, W), from landform's layout of examples
    of ``input_shape``: (H, W, C) images are transposed, (H, W) and flat square ones reshaped."""
    torch = _torch()
    x = torch.as_tensor(np.asarray(x))
    if not x.is_floating_point():
        x = x.float()
    height, width, channels = image_shape("torch", tuple(int(d) for d in input_shape))
    return x.reshape(x.shape[0], height, width, channels).permute(0, 3, 1, 2).contiguous()


_ACTIVATIONS = {
    "ReLU": "relu",
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "SiLU": "silu",
    "ELU": "elu",
    "LeakyReLU": "leaky_relu",
    "Softplus": "softplus",
}


def _activation(layer: Any) -> str | None:
    name = type(layer).__name__
    if name == "GELU":
        return "gelu" if getattr(layer, "approximate", "none") == "tanh" else None
    if name == "ELU" and getattr(layer, "alpha", 1.0) != 1.0:
        return None
    if name == "LeakyReLU" and getattr(layer, "negative_slope", 0.01) != 0.01:
        return None
    return _ACTIVATIONS.get(name)


def _recognise(module: Any, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The zoo spec of the architecture of ``module`` (its leaf modules in registration order),
    or a ConfigError saying what has no twin."""
    torch = _torch()
    nn = torch.nn
    leaves = [m for m in module.modules() if not list(m.children())]
    kinds: list[str] = []
    activations: set[str] = set()
    convs, linears = [], []
    for layer in leaves:
        if isinstance(layer, nn.Linear):
            if layer.bias is None:
                raise ConfigError("a Linear layer without bias has no twin in the zoo")
            kinds.append("linear")
            linears.append(layer)
        elif isinstance(layer, nn.Conv2d):
            if layer.bias is None or layer.groups != 1 or tuple(layer.dilation) != (1, 1):
                raise ConfigError("a Conv2d layer without bias, with groups or with dilation has no twin in the zoo")
            kinds.append("conv")
            convs.append(layer)
        elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
            size = layer.kernel_size if isinstance(layer.kernel_size, int) else tuple(layer.kernel_size)
            stride = layer.stride if isinstance(layer.stride, int) else tuple(layer.stride)
            if size not in (2, (2, 2)) or stride not in (2, (2, 2)) or layer.padding not in (0, (0, 0)):
                raise ConfigError(f"{type(layer).__name__} other than 2×2 with stride 2 has no twin in the zoo")
            kinds.append("max" if isinstance(layer, nn.MaxPool2d) else "avg")
        elif isinstance(layer, nn.Flatten | nn.Identity):
            continue
        elif isinstance(layer, nn.Dropout) and layer.p == 0:
            continue
        elif _activation(layer) is not None:
            kinds.append("act")
            activations.add(_activation(layer))
        else:
            raise ConfigError(
                f"{type(layer).__name__} has no twin in the zoo (twins: {', '.join(TWIN_MODELS)} built from Linear, "
                "Conv2d, 2×2 pooling, Flatten and one element-wise activation); measure such a module with "
                "landform.models.torch.TorchLandscape"
            )
    if len(activations) > 1:
        raise ConfigError(f"the module mixes activations {sorted(activations)}; a zoo twin uses one")
    activation = activations.pop() if activations else "identity"
    if not linears:
        raise ConfigError("the module has no Linear layer; a zoo twin ends with one")
    text = " ".join(kinds)
    dense_part = " ".join(["linear act"] * (len(linears) - 1) + ["linear"])
    widths = [layer.out_features for layer in linears]
    if not convs:
        if text != dense_part:
            raise ConfigError(f"layers in the order {text!r} are not an MLP (Linear, activation, ..., Linear)")
        return {"name": "mlp", "input_shape": list(input_shape), "hidden": widths[:-1], "outputs": widths[-1]} | {
            "activation": activation
        }
    pattern_cnn = " ".join(["conv act max"] * len(convs))
    if all(tuple(c.kernel_size) == (3, 3) and tuple(c.stride) == (1, 1) for c in convs) and all(
        tuple(c.padding) == (1, 1) for c in convs
    ):
        if text == f"{pattern_cnn} {dense_part}":
            return {
                "name": "cnn",
                "input_shape": list(input_shape),
                "channels": [c.out_channels for c in convs],
                "dense": widths[:-1],
                "outputs": widths[-1],
                "activation": activation,
            }
    if (
        len(convs) == 2
        and [c.out_channels for c in convs] == [6, 16]
        and all(tuple(c.kernel_size) == (5, 5) and tuple(c.stride) == (1, 1) for c in convs)
        and [tuple(c.padding) for c in convs] == [(2, 2), (0, 0)]
        and widths[:-1] == [120, 84]
        and text == f"conv act avg conv act avg {dense_part}"
    ):
        return {"name": "lenet5", "input_shape": list(input_shape), "outputs": widths[-1], "activation": activation}
    raise ConfigError(
        f"layers in the order {text!r} match none of the zoo's twins (mlp; cnn: 3×3 same-padded Conv2d, "
        "activation, 2×2 max-pool per stage, then Linear layers; lenet5)"
    )


def _torch_inputs(x: np.ndarray, spec: Mapping[str, Any]) -> Any:
    torch = _torch()
    if spec["name"] in ("cnn", "lenet5") or (len(spec["input_shape"]) == 3 and spec["input_shape"][2] > 1):
        return torch_images(x, spec["input_shape"])
    return torch.as_tensor(np.asarray(x, np.float32).reshape(x.shape[0], *spec["input_shape"]))


def twin(module: Any, input_shape: Sequence[int], *, check: bool = True) -> tuple[Model, Params]:
    """The JAX twin of a PyTorch module with one of the zoo's architectures, and its parameters.

    ``input_shape`` is the shape of one example as landform's data has it ((H, W, C) or flat for
    images; the module receives them as (N, C, H, W), see :func:`torch_images`). The module's
    leaf layers, in registration order, must form an MLP (Linear, activation, ..., Linear), a
    CNN (3×3 same-padded Conv2d, activation, 2×2 max-pool per stage, then Linear layers) or
    LeNet-5; ``Flatten``, ``Identity`` and ``Dropout(p=0)`` are ignored. With ``check`` (default)
    both networks are run on 8 random examples in float64 and must agree to 1e-6 relative to the
    output scale; a module that does not (a forward pass that is not the plain sequence of its
    layers, say) is a :class:`ConfigError`, as is an architecture without a twin.
    """
    torch = _torch()
    shape = tuple(int(d) for d in input_shape)
    spec = _recognise(module, shape)
    options = dict(spec)
    model = CONSTRUCTORS[options.pop("name")](**options)
    params = load_state_dict(model, module.state_dict())
    if check:
        x = np.random.default_rng(0).standard_normal((8, *shape))
        reference = copy.deepcopy(module).double().eval()
        with torch.no_grad():
            expected = reference(_torch_inputs(x, spec).double()).numpy()
        with jax.enable_x64(True):
            wide = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), params)
            got = np.asarray(model.apply(wide, jnp.asarray(x, jnp.float64)))
        scale = float(np.max(np.abs(expected))) + 1e-12
        if got.shape != expected.shape or not np.all(np.abs(got - expected) <= 1e-6 * scale):
            raise ConfigError(
                f"the module's layers look like the zoo's {spec['name']} but its outputs differ from the twin's "
                "(its forward pass is not the plain sequence of its layers?); measure it with TorchLandscape"
            )
    return model, params


def _seed(key: jax.Array) -> int:
    data = np.asarray(jax.random.key_data(key)).astype(np.uint64).ravel()
    seed = 0
    for word in data:
        seed = (seed << 32) | int(word)
    return seed % (1 << 63)


def factory_twin(
    module: Any, remake: Callable[[], Any], label: str, spec: dict[str, Any], input_shape: tuple[int, ...] | None
) -> Model:
    """A factory's PyTorch module as its JAX twin (:func:`twin`) with the factory's ``spec``.

    ``model.init(key)`` calls ``remake()`` (the factory) with PyTorch's generator seeded from the
    key (``key(s)`` seeds ``torch.manual_seed(s)``; PyTorch's global generator is restored
    afterwards) and loads the new module's weights, so every seed starts from PyTorch's own
    initialisation. Inside a JAX transformation (``eval_shape`` of a checkpoint loader) the
    key has no value and the twin's Flax initialisation gives the parameter shapes.
    """
    torch = _torch()
    if input_shape is None:
        raise ConfigError(f"factory {label} returned a PyTorch module; it needs the input shape of the data")
    zoo_model, _ = twin(module, input_shape)

    def init(key: jax.Array) -> Params:
        if isinstance(key, jax.core.Tracer):
            return zoo_model.init(key)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(_seed(key))
            fresh = remake()
        return load_state_dict(zoo_model, fresh.state_dict())

    return dataclasses.replace(zoo_model, init=init, name=label, spec=spec)


# ============================================================================ landscapes evaluated by PyTorch


def _to_torch(array: Any) -> Any:
    """A JAX or NumPy array as a torch tensor, shared through DLPack where possible (no copy)."""
    torch = _torch()
    if isinstance(array, jax.Array):
        try:
            return torch.from_dlpack(array)
        except (RuntimeError, TypeError, BufferError):
            return torch.as_tensor(np.asarray(array))
    return torch.as_tensor(np.asarray(array))


def _to_jax(tensor: Any) -> jax.Array:
    try:
        return jax.dlpack.from_dlpack(tensor.contiguous())
    except (RuntimeError, TypeError, BufferError):
        return jnp.asarray(tensor.numpy())


class TorchLandscape(Landscape):
    """The loss of a ``torch.nn.Module`` on a dataset as a function of a flat vector θ,
    evaluated by PyTorch (see the module docstring for θ's order, buffers, evaluation mode and
    ``unit_axis``).

    ``per_example_batch(θs)`` gives ℓ(f(θ_j, x_i), y_i) for every vector and example, with f
    computed by ``torch.func.functional_call`` under ``torch.func.vmap`` over a chunk of
    vectors and ℓ landform's loss of that name; everything built on ``per_example_batch``
    (``loss_batch``, ``prefix_losses_batch``, ``accuracy_batch``, ``subset``, exit radii, planes)
    works as for any landscape. ``value_and_grad`` raises a :class:`ConfigError`.

    Args:
        module: the network; it takes a batch ``x`` (examples on axis 0) and returns outputs the
            loss can score. It is copied, never changed.
        x, y: the examples as the module takes them (images as (N, C, H, W), see
            :func:`torch_images`) and their targets.
        loss: a loss name or :class:`~landform.losses.Loss`.
        memory_budget: bytes of working memory per chunk (activations of V vectors × E examples
            plus V copies of θ).
    """

    unit_axis = 0
    differentiable = False
    not_differentiable = (
        "a TorchLandscape has loss values only (no JAX gradients); for gradients load the checkpoint into its "
        "JAX twin (landform.models.torch.twin) or compute them with torch.func.grad"
    )

    def __init__(
        self,
        module: Any,
        x: Any,
        y: Any,
        loss: str | Loss = "cross_entropy",
        *,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> None:
        torch = _torch()
        if not isinstance(module, torch.nn.Module):
            raise ConfigError(f"TorchLandscape needs a torch.nn.Module, got {type(module).__name__}")
        loss = get_loss(loss)
        if module.training:
            warnings.warn(
                f"{type(module).__name__} is in training mode; the landscape evaluates a copy in evaluation mode "
                "(dropout off, batch norm on its running statistics): call module.eval() to silence this",
                stacklevel=2,
            )
        module = copy.deepcopy(module).eval()
        names, tensors = [], []
        for name, parameter in module.named_parameters():
            if parameter.requires_grad:
                names.append(name)
                tensors.append(parameter.detach())
        if not names:
            raise ConfigError(
                f"{type(module).__name__} has no trainable parameters (nothing to measure a landscape over)"
            )
        dtypes = {str(t.dtype) for t in tensors}
        if len(dtypes) != 1 or not tensors[0].is_floating_point():
            raise ConfigError(f"the module's parameters must share one floating dtype, found {sorted(dtypes)}")
        fixed = {name: parameter.detach() for name, parameter in module.named_parameters() if name not in names}
        fixed.update({name: buffer.detach() for name, buffer in module.named_buffers()})
        slices, start = [], 0
        for name, tensor in zip(names, tensors):
            size = tensor.numel()
            slices.append(LeafSlice(name, start, start + size, tuple(tensor.shape)))
            start += size
        theta = jnp.asarray(torch.cat([t.reshape(-1) for t in tensors]).cpu().numpy())

        inputs = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        if inputs.is_floating_point():
            inputs = inputs.to(tensors[0].dtype)
        targets = jnp.asarray(_numpy(y))
        check_finite("landscape inputs", _numpy(inputs))
        check_finite("landscape targets", np.asarray(targets))
        if inputs.shape[0] != targets.shape[0]:
            raise ShapeError(
                f"inputs and targets disagree on the number of examples: x has shape {tuple(inputs.shape)}, "
                f"y has shape {tuple(targets.shape)}"
            )
        self._module = module
        self._distribution: str | None = None  # set by behavioural(): θ*'s outputs are the targets
        self._recompute = False  # behavioural without the cache: θ*'s outputs recomputed per chunk
        self._fixed = fixed
        self._slices = tuple(slices)
        self._loss = loss
        self._inputs = inputs
        with torch.no_grad():
            try:
                outputs = module(inputs[:1])
            except Exception as error:
                raise ShapeError(
                    f"the module could not be applied to inputs of shape {tuple(inputs.shape)}: "
                    f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                ) from None
        check_compatible(loss, tuple(outputs.shape), np.asarray(targets))
        per_example_bytes, parameter_bytes = self._measure(inputs[:1], outputs)

        def unavailable(*_):
            raise ConfigError("a TorchLandscape is evaluated by PyTorch; call its methods, not its JAX function")

        super().__init__(
            unavailable,
            dim=int(theta.shape[0]),
            num_examples=int(inputs.shape[0]),
            x=None,
            y=targets,
            theta=theta,
            unravel=self._unravel,
            correct_fn=unavailable if loss.accuracy_kind is not None else None,
            loss_name=loss.name,
            memory_budget=memory_budget,
            cost=Cost(bytes_per_example=per_example_bytes, bytes_per_vector=parameter_bytes),
        )

    @classmethod
    def behavioural(
        cls,
        module: Any,
        x: Any,
        *,
        distribution: str = "categorical",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        cache: bool | None = None,
    ) -> TorchLandscape:
        """The behavioural landscape L(θ) = (1/N) Σ_i (1/P) Σ_p KL(p_θ*(· | x_i, p) ‖ p_θ(· | x_i, p))
        of ``module`` around its current parameters θ* on the inputs ``x`` (no targets; see
        :mod:`landform.behaviour`, Scherlis & Belrose 2025, arXiv 2501.18812).

        The module's outputs are logits: (N, ..., C) over C outcomes (a causal language model's
        (N, T, V)) for ``"categorical"``, one per output for ``"bernoulli"``. θ*'s targets
        (log-probabilities or logits) are computed once by PyTorch, in chunks, and kept when they
        take at most half of ``memory_budget`` (the chunks then get the rest); otherwise, or with
        ``cache=False``, they are recomputed for every chunk of examples. ``metric="correct"``
        is agreement with θ*'s most probable outcome.
        """
        torch = _torch()
        if distribution not in DISTRIBUTIONS:
            behavioural_loss(distribution)  # raises UnknownNameError listing the distributions
        inputs = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
        count = int(inputs.shape[0]) if inputs.ndim else 0
        if count < 1:
            raise ShapeError(f"a behavioural landscape needs at least one input; got shape {tuple(inputs.shape)}")
        landscape = cls(
            module, inputs, np.zeros(count, np.float32), behavioural_loss(distribution), memory_budget=memory_budget
        )
        with torch.no_grad():
            one = landscape._module(landscape._inputs[:1])
        if distribution == "categorical" and (one.ndim < 2 or one.shape[-1] < 2):
            raise ShapeError(
                f"a categorical predictive distribution needs logits over at least two outcomes on the last axis; "
                f"the module outputs shape {tuple(one.shape)} per example (use distribution='bernoulli')"
            )
        reference_bytes = count * int(np.prod(tuple(one.shape[1:]), dtype=np.int64)) * 4
        keep = cache_fits(reference_bytes, memory_budget) if cache is None else bool(cache)
        if keep and reference_bytes >= memory_budget:
            raise ConfigError(
                f"θ*'s outputs on {count} inputs take {reference_bytes / 2**20:.0f} MiB, more than the memory budget "
                f"({memory_budget / 2**20:.0f} MiB); raise memory_budget or pass cache=None to recompute them per chunk"
            )
        landscape._distribution = distribution
        if not keep:
            landscape._recompute = True
            # each chunk of examples also runs θ*'s forward pass: count its activations per example
            cost = landscape._cost
            landscape._cost = Cost(2 * cost.bytes_per_example, cost.bytes_per_vector)
            return landscape
        examples = landscape.choose_chunking(1).examples
        with torch.no_grad():
            parts = [
                reference_targets(_to_jax(landscape._module(landscape._inputs[start : start + examples])), distribution)
                for start in range(0, count, examples)
            ]
        targets = parts[0] if len(parts) == 1 else jnp.concatenate(parts)
        check_finite("θ*'s outputs", np.asarray(targets))
        landscape.y = targets
        landscape.memory_budget = max(int(memory_budget) - reference_bytes, 1)
        return landscape

    @property
    def caches_reference(self) -> bool:
        """Whether a behavioural landscape keeps θ*'s outputs (False: recomputed per chunk)."""
        return self._distribution is not None and not self._recompute

    # ------------------------------------------------------------------ parameters

    @property
    def layout(self) -> tuple[LeafSlice, ...]:
        """Where each trainable parameter lives in θ (``named_parameters`` names and order)."""
        return self._slices

    @property
    def module(self) -> Any:
        """The module evaluated (a copy in evaluation mode)."""
        return self._module

    def _unravel(self, vector: jax.Array) -> dict[str, Any]:
        """θ as ``{name: torch tensor}`` in ``named_parameters`` order (shared memory where possible)."""
        flat = _to_torch(jnp.asarray(vector))
        return {s.path: flat[s.start : s.stop].reshape(s.shape) for s in self._slices}

    def state_dict(self, vector: jax.Array) -> dict[str, Any]:
        """The module's full state dict with θ = ``vector`` (buffers and frozen parameters as they
        are), e.g. to load a point of the landscape back into the module."""
        return {**{k: v.clone() for k, v in self._unravel(vector).items()}, **self._fixed}

    def _measure(self, one: Any, outputs: Any) -> tuple[float, float]:
        """Bytes per example (every leaf module's output on one example) and per vector."""
        torch = _torch()
        total = [0]

        def hook(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                total[0] += output.numel() * output.element_size()

        handles = [m.register_forward_hook(hook) for m in self._module.modules() if not list(m.children())]
        try:
            with torch.no_grad():
                self._module(one)
        finally:
            for handle in handles:
                handle.remove()
        per_example = float(max(total[0] + one.numel() * one.element_size() + 4 * outputs.numel(), 4))
        itemsize = next(self._module.parameters()).element_size()
        return per_example, float(2 * itemsize * sum(s.size for s in self._slices))

    # ------------------------------------------------------------------ evaluation

    def subset(self, num_examples: int) -> TorchLandscape:
        """The nested landscape of the first ``num_examples`` examples."""
        if not 1 <= num_examples <= self.num_examples:
            raise ConfigError(f"num_examples must be in 1..{self.num_examples}, got {num_examples}")
        other = copy.copy(self)
        other.num_examples = int(num_examples)
        other._inputs = self._inputs[:num_examples]
        other.y = self.y[:num_examples]
        other._compiled = {}
        return other

    def per_example_batch(
        self, thetas: jax.Array, *, metric: str = "loss", chunking: Chunking | None = None
    ) -> jax.Array:
        """Per-example values at each of θ_1..θ_m, shape (m, N); ``metric`` "loss" or "correct"."""
        torch = _torch()
        thetas = as_vectors(thetas, self.dim)
        if metric not in ("loss", "correct"):
            raise ConfigError(f"unknown metric {metric!r}; use 'loss' or 'correct'")
        if metric == "correct" and self._loss.accuracy_kind is None:
            raise ConfigError(f"accuracy is not defined for the {self.loss_name!r} loss (a regression loss)")
        chunking = chunking or self.choose_chunking(thetas.shape[0])
        self._check_chunking(chunking)
        vectors, examples = chunking
        flat = _to_torch(thetas)
        if flat.dtype != self._inputs.dtype and self._inputs.is_floating_point():
            flat = flat.to(self._inputs.dtype)
        score = self._scorer(metric)
        rows = []
        with torch.no_grad():
            for first in range(0, thetas.shape[0], vectors):
                block = flat[first : first + vectors]
                params = {s.path: block[:, s.start : s.stop].reshape(-1, *s.shape) for s in self._slices}
                parts = []
                for start in range(0, self.num_examples, examples):
                    xs = self._inputs[start : start + examples]
                    outputs = self._outputs(params, xs, block.shape[0])
                    parts.append(score(_to_jax(outputs), self._targets(start, xs)))
                rows.append(parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=1))
        return rows[0] if len(rows) == 1 else jnp.concatenate(rows, axis=0)

    def _targets(self, start: int, xs: Any) -> jax.Array:
        """The targets of the examples ``xs`` (starting at ``start``): the stored ones, or, for a
        behavioural landscape without its cache, θ*'s outputs computed now."""
        if not self._recompute:
            return self.y[start : start + xs.shape[0]]
        return reference_targets(_to_jax(self._module(xs)), self._distribution)

    def _outputs(self, params: dict[str, Any], xs: Any, count: int) -> Any:
        """The module's outputs (V, E, ...) for V parameter sets (leading axis of ``params``)."""
        from torch.func import functional_call, vmap

        def forward(one):
            return functional_call(self._module, (one, self._fixed), (xs,))

        if count == 1:
            return forward({name: value[0] for name, value in params.items()})[None]
        return vmap(forward)(params)

    def _scorer(self, metric: str) -> Callable[[jax.Array, jax.Array], jax.Array]:
        key = ("score", metric)
        if key not in self._compiled:
            loss = self._loss
            if metric == "loss":
                one = loss.per_example
            else:
                kind = loss.accuracy_kind

                def one(outputs, ys):
                    return correct(outputs, ys, kind)

            self._compiled[key] = jax.jit(jax.vmap(one, in_axes=(0, None)))
        return self._compiled[key]

    def loss(self, theta: jax.Array) -> jax.Array:
        """L(θ): the mean loss over all examples (evaluated by PyTorch, not differentiable)."""
        return jnp.mean(self.per_example_batch(self._check_vector(theta)[None])[0])

    def __repr__(self) -> str:
        return (
            f"TorchLandscape({type(self._module).__name__}, dim={self.dim}, num_examples={self.num_examples}, "
            f"loss={self.loss_name!r})"
        )
