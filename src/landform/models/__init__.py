"""The model zoo and adapters.

A :class:`Model` is ``init(key) -> params`` plus ``apply(params, x) -> outputs`` with ``x`` a
batch. Zoo models (:func:`mlp`, :func:`tabular_mlp`, :func:`lenet5`, :func:`cnn`,
:func:`transformer`, :func:`with_learned_sigma`) are rebuilt from their ``spec`` by
:func:`build`; adapters (:func:`from_linen`, :func:`from_nnx`, :func:`from_equinox`,
:func:`from_apply`) wrap models written elsewhere and return ``(model, params)``; :func:`adapt`
recognises any of them (and PyTorch modules with a JAX twin) and picks the adapter. Models of the
user's own come in through factories (:mod:`landform.models.factory`): a config names one by
import path (``model: {factory: "module:function", options: {...}}``) or by a name given to
:func:`register`. PyTorch checkpoints of the zoo's architectures load into their JAX twins, and
any ``torch.nn.Module`` can be measured as a landscape evaluated by PyTorch
(:mod:`landform.models.torch`, needs the ``torch`` extra); Hugging Face causal language models
are measured by their behavioural basin (:mod:`landform.models.hf`, needs the ``hf`` extra).
"""

from landform.models.activations import ACTIVATION_NAMES, ACTIVATIONS, get_activation
from landform.models.adapters import MODEL_KINDS, adapt, from_apply, from_equinox, from_linen, from_nnx, model_kind
from landform.models.base import Model, Params
from landform.models.checks import check_input, validate_input_shape
from landform.models.factory import register, registered_names
from landform.models.registry import MODEL_NAMES, build, model_arguments, with_learned_sigma
from landform.models.zoo import cnn, lenet5, mlp, tabular_mlp, transformer

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "MODEL_KINDS",
    "MODEL_NAMES",
    "Model",
    "Params",
    "adapt",
    "build",
    "check_input",
    "cnn",
    "from_apply",
    "from_equinox",
    "from_linen",
    "from_nnx",
    "get_activation",
    "lenet5",
    "mlp",
    "model_kind",
    "model_arguments",
    "register",
    "registered_names",
    "tabular_mlp",
    "transformer",
    "validate_input_shape",
    "with_learned_sigma",
]
