"""The dataset registry: load any dataset by name and list what exists and what is local.

Besides the built-in datasets, :func:`load` takes datasets of the user's own: a function named by
import path (``"my_package.my_data:make"``, or ``"path/to/file.py:make"``) or registered with
:func:`register`. Such a function takes keyword options and returns a :class:`Dataset`, or its
splits as a mapping ``{"train": split, "test": split, ...}`` where each split is a
:class:`Split` or an ``(x, y)`` pair of arrays (see :func:`as_dataset`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from landform import plugins
from landform.data import images, synthetic, text, toy, uci
from landform.data.base import Dataset, Split
from landform.data.sources import SOURCES, UCI_NAMES, describe_source
from landform.errors import ConfigError, UnknownNameError, moved_names


@dataclass(frozen=True)
class Entry:
    """A registered dataset: its loader, a description and its file source (None: generated)."""

    name: str
    loader: Callable[..., Dataset]
    description: str
    source: str | None = None
    user: bool = False  # registered with register(): its source is fingerprinted in stage keys


def _uci_loader(name: str) -> Callable[..., Dataset]:
    def load_uci(
        seed: int = 0,
        split: tuple[float, float, float] = (0.7, 0.1, 0.2),
        standardize: str | None = "train",
    ) -> Dataset:
        return uci.uci(name, seed=seed, split=split, standardize=standardize)

    load_uci.__name__ = load_uci.__qualname__ = name
    load_uci.__doc__ = f"``uci({name!r}, seed, split, standardize)``; see :func:`uci.uci`."
    return load_uci


def _entries() -> dict[str, Entry]:
    entries = [
        Entry(
            "toy_regression",
            toy.toy_regression,
            "1-D regression with a gap from a random ReLU teacher (Dold et al. 2025); generated",
        ),
        Entry("toy_file", toy.toy_file, SOURCES["toy_file"].description, "toy_file"),
        Entry("swiss_roll", synthetic.swiss_roll, "two interleaved spirals, binary (Fan et al. 2025); generated"),
        Entry("modular_addition", synthetic.modular_addition, "(a + b) mod p from one-hot pairs; generated"),
        *(Entry(name, _uci_loader(name), SOURCES[name].description, name) for name in UCI_NAMES),
        Entry("mnist", images.mnist, SOURCES["mnist"].description, "mnist"),
        Entry("fashion_mnist", images.fashion_mnist, SOURCES["fashion_mnist"].description, "fashion_mnist"),
        Entry("cifar10", images.cifar10, SOURCES["cifar10"].description, "cifar10"),
        Entry("svhn", images.svhn, SOURCES["svhn"].description, "svhn"),
        Entry("shakespeare", text.shakespeare, SOURCES["shakespeare"].description, "shakespeare"),
    ]
    return {entry.name: entry for entry in entries}


REGISTRY: dict[str, Entry] = _entries()


def names() -> list[str]:
    """The registered dataset names, sorted."""
    return sorted(REGISTRY)


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def _entry(name: str) -> Entry:
    if plugins.is_import_path(name):
        loader = plugins.resolve_function(name)
        return Entry(name, loader, f"{name} (a dataset of your own)", None, True)
    key = _key(name)
    if key not in REGISTRY:
        raise UnknownNameError("dataset", name, [*REGISTRY, "module:function (a function of your own)"])
    return REGISTRY[key]


def register(name: str, loader: Callable[..., Any], description: str = "", *, replace: bool = False) -> Callable:
    """Make ``loader`` loadable as ``load(name, **options)`` and usable in configs as
    ``dataset: <name>``.

    ``loader(**options)`` returns a :class:`Dataset` or its splits (see :func:`as_dataset`); a
    ``seed`` parameter, when it has one, receives the data seed of the volume study. Built-in
    names cannot be taken; registering a name twice needs ``replace=True``. Returns ``loader``.
    A registration lives in the Python process that made it (configs run from Python after the
    registering module is imported); ``dataset: module:function`` needs no registration.
    """
    key = _key(name)
    if not key.isidentifier():
        raise ConfigError(f"a registered dataset name must be an identifier such as 'my_data', got {name!r}")
    if not callable(loader):
        raise ConfigError(f"register({name!r}, ...) needs a function that returns a dataset, got {loader!r}")
    existing = REGISTRY.get(key)
    if existing is not None and not existing.user:
        raise ConfigError(f"{key!r} is a built-in dataset; register yours under another name")
    if existing is not None and existing.loader is not loader and not replace:
        raise ConfigError(f"dataset name {key!r} is already registered; pass replace=True to replace it")
    REGISTRY[key] = Entry(key, loader, description or f"{key} (registered)", None, True)
    return loader


def dataset_fingerprint(name: str) -> str | None:
    """:func:`source_fingerprint` of a user's dataset function (an import path or a registered
    name); None for built-in datasets and names that are neither."""
    if plugins.is_import_path(name):
        return plugins.source_fingerprint(plugins.resolve_function(name))
    entry = REGISTRY.get(_key(name))
    if entry is None or not entry.user:
        return None
    return plugins.source_fingerprint(entry.loader)


def _as_split(value: Any, name: str, source: str) -> Split:
    if isinstance(value, Split):
        return value
    if isinstance(value, tuple | list) and len(value) == 2:
        x, y = (np.asarray(part) for part in value)
        if x.dtype.kind == "f":
            x = x.astype(np.float32)
        if y.dtype.kind == "f":
            y = y.astype(np.float32)
        elif y.dtype.kind in "iub":
            y = y.astype(np.int32)
        return Split(x, y)
    raise ConfigError(
        f"dataset {source!r}: split {name!r} is a {type(value).__name__}; give a landform.data.Split or an (x, y) pair"
    )


def as_dataset(value: Any, source: str) -> Dataset:
    """What a user's dataset function returned, as a :class:`Dataset`.

    A :class:`Dataset` is kept. A mapping of split names to :class:`Split` or ``(x, y)`` pairs
    (floating arrays become float32, integer labels int32) needs a ``"train"`` split; integer
    labels make a classification task with ``max + 1`` classes, anything else regression.
    Anything else is a :class:`ConfigError` naming what came back.
    """
    if isinstance(value, Dataset):
        return value
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            f"dataset {source!r} returned a {type(value).__name__}; return a landform.data.Dataset or a mapping "
            "{'train': (x, y), 'test': (x, y), ...} of splits"
        )
    splits = {str(name): _as_split(split, str(name), source) for name, split in value.items()}
    if "train" not in splits:
        raise ConfigError(f"dataset {source!r} returned splits {sorted(splits)}; a 'train' split is needed")
    for name, split in splits.items():
        split.check_finite(f"{source} {name}")
    labels = splits["train"].y
    if labels.dtype.kind in "iu":
        classes = int(max(int(split.y.max(initial=0)) for split in splits.values())) + 1
        task, num_classes = ("classification", classes)
    else:
        task, num_classes = ("regression", None)
    return Dataset(source, task, splits, num_classes, info={"source": source})


def load(name: str, /, **options: Any) -> Dataset:
    """Load dataset ``name`` with its loader's keyword ``options``.

    Names are case-insensitive and "-" may stand for "_" (``fashion-mnist``). ``name`` may also
    be an import path ``module:function`` or a name given to :func:`register` (a dataset of the
    user's own; its result goes through :func:`as_dataset`). Raises
    :class:`~landform.errors.UnknownNameError` listing the known names, and
    :class:`~landform.errors.ConfigError` for options the loader does not take.
    """
    entry = _entry(name)
    signature = inspect.signature(entry.loader)
    try:
        signature.bind(**options)
    except TypeError as error:
        raise ConfigError(
            f"dataset {entry.name!r} does not accept options {sorted(options)} ({error}); "
            f"its options are: {', '.join(signature.parameters)}"
        ) from None
    if not entry.user:
        return entry.loader(**options)
    try:
        value = entry.loader(**options)
    except ConfigError:
        raise
    except Exception as error:
        raise ConfigError(f"dataset {entry.name!r} failed: {plugins.one_line(error)}") from error
    return as_dataset(value, entry.name)


def catalog() -> list[dict[str, Any]]:
    """One record per dataset: name, description, ``source`` (the download URLs as one string,
    or "generated"), ``urls``, expected ``files``, the local ``folder`` and whether the files are
    there (``available``; generated datasets are always available), plus the loader's
    ``options``. Nothing is downloaded."""
    records = []
    for name in names():
        entry = REGISTRY[name]
        record: dict[str, Any] = {"name": name, "description": entry.description}
        if entry.source is None:
            record.update(files=[], folder=None, source="generated", urls=[], homepage="", available=True)
        else:
            record.update(describe_source(entry.source))
        record["options"] = list(inspect.signature(entry.loader).parameters)
        records.append(record)
    return records


#: Import-path helpers that moved to :mod:`landform.plugins` (old name here, kept for one release).
_MOVED = ("is_import_path", "one_line", "resolve_function", "source_fingerprint")


__getattr__ = moved_names(
    "landform.data.registry", "landform.plugins", {name: name for name in _MOVED}, "import it from there"
)
