"""The dataset registry: load any dataset by name and list what exists and what is local."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from landform.data import images, synthetic, text, toy, uci
from landform.data.base import Dataset
from landform.data.sources import SOURCES, UCI_NAMES, describe_source
from landform.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class Entry:
    """A registered dataset: its loader, a description and its file source (None: generated)."""

    name: str
    loader: Callable[..., Dataset]
    description: str
    source: str | None = None


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


def _entry(name: str) -> Entry:
    key = str(name).strip().lower().replace("-", "_")
    if key not in REGISTRY:
        raise UnknownNameError("dataset", name, REGISTRY)
    return REGISTRY[key]


def load(name: str, /, **options: Any) -> Dataset:
    """Load dataset ``name`` with its loader's keyword ``options``.

    Names are case-insensitive and "-" may stand for "_" (``fashion-mnist``). Raises
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
    return entry.loader(**options)


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
