"""Hugging Face causal language models as behavioural landscapes, evaluated by PyTorch.

Needs the ``hf`` extra (``pip install -e '.[hf]'``: transformers and torch; both are imported
only when a function here is called). A causal language model f_θ maps token ids (N, T) to
next-token logits (N, T, V); its behavioural landscape on N sequences is

    L(θ) = (1/(N·T)) Σ_i Σ_t KL(p_θ*(· | x_i,≤t) ‖ p_θ(· | x_i,≤t)),

the basin measure of the basin-volume project for Pythia models (Scherlis & Belrose 2025,
"Estimating the Probability of Sampling a Trained Neural Network at Random", arXiv
2501.18812). It is a :class:`~landform.models.torch.TorchLandscape` built with
:meth:`~landform.models.torch.TorchLandscape.behavioural`: θ is the model's trainable
parameters in ``named_parameters`` order under the prefix ``model.`` (tied weights appear
once), evaluated with ``torch.func.functional_call`` under ``torch.func.vmap`` over vectors, in
chunks over vectors and sequences within the memory budget.

Loading (:func:`load_causal_lm`) never waits on the network unless asked to: a local folder
(written by ``save_pretrained``) is read with ``local_files_only=True``; a Hub name is looked up
in the local Hugging Face cache only, and a name that is not there is a
:class:`~landform.errors.ModelUnavailableError` at once, unless ``download=True`` (and
``HF_HUB_OFFLINE`` is not set).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from landform.errors import ConfigError, ModelUnavailableError, ShapeError
from landform.landscape import DEFAULT_MEMORY_BUDGET
from landform.models.torch import TorchLandscape, _torch


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError(
            "transformers is not installed; install landform with the hf extra: pip install -e '.[hf]'"
        ) from None
    return transformers


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def load_causal_lm(
    source: str | os.PathLike, *, download: bool = False, cache_dir: str | os.PathLike | None = None
) -> Any:
    """A Hugging Face causal language model (``AutoModelForCausalLM``) in float32 and
    evaluation mode, from a local folder or a Hub name.

    Args:
        source: a folder written by ``model.save_pretrained(folder)`` (it must hold a
            ``config.json``), or a Hub name such as ``"EleutherAI/pythia-70m"``.
        download: allow fetching a Hub name that is not in the local cache (tries the network;
            ignored while ``HF_HUB_OFFLINE`` is set). By default only the cache is read.
        cache_dir: the Hugging Face cache to read (default: the library's, ``HF_HOME``).

    Raises:
        ModelUnavailableError: a folder without a model, or a name not in the cache (offline
            or ``download=False``), or a download that failed; the message says what to do.
    """
    torch = _torch()
    transformers = _transformers()
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(
                f"{path} holds no config.json: it is not a saved Hugging Face model; write one there with "
                "model.save_pretrained(folder)"
            )
        location, local_only = str(path), True
    elif str(source).startswith((".", "/", "~")) or path.suffix:
        raise ModelUnavailableError(f"no model folder at {path}; give an existing folder or a Hub name")
    else:
        location, local_only = str(source), not download or _offline()
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            location, local_files_only=local_only, cache_dir=None if cache_dir is None else str(cache_dir)
        )
    except (OSError, ValueError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        if local_only and not path.is_dir():
            raise ModelUnavailableError(
                f"{source!r} is neither a local folder nor in the Hugging Face cache, and landform does not download "
                f"it {'(HF_HUB_OFFLINE is set)' if _offline() else '(download=False)'}: download it once where "
                f"there is network (huggingface-cli download {source}), give its folder, or pass download=True "
                f"(config: hf_download: true) [{first}]"
            ) from None
        raise ModelUnavailableError(f"could not load the causal language model {source!r}: {first}") from None
    return model.to(torch.float32).eval()


#: Files one of which a folder with a saved tokenizer holds.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model")


def load_tokenizer(source: str | os.PathLike, *, download: bool = False) -> Any:
    """The tokenizer saved with a causal language model (``AutoTokenizer``), from a local folder
    or a Hub name, under the same rules as :func:`load_causal_lm` (no network unless
    ``download=True``); :class:`ModelUnavailableError` when there is none."""
    transformers = _transformers()
    path = Path(source).expanduser()
    local_only = path.is_dir() or not download or _offline()
    try:
        if path.is_dir() and not any((path / name).is_file() for name in TOKENIZER_FILES):
            # transformers 5 would build an empty tokenizer from the model's config alone
            raise OSError(f"none of {', '.join(TOKENIZER_FILES)} in {path}")
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(path) if path.is_dir() else str(source), local_files_only=local_only
        )
        if len(tokenizer) < 2:
            raise OSError(f"the tokenizer found has {len(tokenizer)} tokens")
        return tokenizer
    except (OSError, ValueError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        where = (
            "its folder" if path.is_dir() else "the Hugging Face cache (landform does not download it: download=False)"
        )
        if download and not path.is_dir():
            where = "the Hugging Face cache, and it could not be downloaded"
        raise ModelUnavailableError(
            f"no tokenizer for {source!r} in {where}: save one beside the model (tokenizer.save_pretrained(folder)), "
            f"download the model once where there is network (huggingface-cli download {source}), or use the "
            f"dataset's own tokens (data.tokens: characters) [{first}]"
        ) from None


def causal_lm_logits(model: Any) -> Any:
    """``model`` wrapped as a ``torch.nn.Module`` that maps token ids (N, T) to next-token logits
    (N, T, V) (``model(input_ids=x, use_cache=False).logits``); its parameters are the model's
    under the prefix ``model.``."""
    torch = _torch()

    class CausalLMLogits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.model = inner

        def forward(self, input_ids):
            return self.model(input_ids=input_ids, use_cache=False).logits

    return CausalLMLogits(model).eval()


def causal_lm_landscape(
    model: Any, tokens: Any, *, memory_budget: int = DEFAULT_MEMORY_BUDGET, cache: bool | None = None
) -> TorchLandscape:
    """The behavioural landscape of the causal language model ``model`` (a Hugging Face model,
    or a name or folder for :func:`load_causal_lm`) on the token sequences ``tokens`` (N, T)
    (see the module docstring). θ* is the model's current parameters; ``memory_budget`` and
    ``cache`` as in :meth:`TorchLandscape.behavioural`."""
    torch = _torch()
    if isinstance(model, str | os.PathLike):
        model = load_causal_lm(model)
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.dtype.kind not in "iu":
        raise ShapeError(f"token ids must be integers of shape (sequences, length); got {tokens.dtype} {tokens.shape}")
    vocabulary = getattr(model.config, "vocab_size", None)
    if vocabulary is not None and tokens.size and (tokens.min() < 0 or tokens.max() >= vocabulary):
        raise ShapeError(
            f"token ids run from {tokens.min()} to {tokens.max()} but the model's vocabulary has {vocabulary} entries"
        )
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is not None and tokens.shape[1] > positions:
        raise ShapeError(f"sequences of {tokens.shape[1]} tokens are longer than the model's {positions} positions")
    inputs = torch.as_tensor(tokens.astype(np.int64))
    return TorchLandscape.behavioural(causal_lm_logits(model), inputs, memory_budget=memory_budget, cache=cache)
