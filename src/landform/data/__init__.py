"""Datasets and the manipulations of the minima-volume and loss-tunnel studies.

Every loader returns a :class:`Dataset` of NumPy arrays (float32 inputs; int32 class labels or
float32 regression targets; int32 tokens for text), is deterministic given its seed, records
what produced it in ``info`` and rejects NaN/inf values with
:class:`~landform.errors.DataError`.

Files are read from the data folder (:func:`data_dir`: ``$LANDFORM_DATA``, else pooch's cache)
and downloaded from their public source only when missing; without network access a missing file
fails within seconds with :class:`~landform.errors.DataUnavailableError`, which names the folder
and files to provide.

Load by name with :func:`load`; list everything with :func:`catalog`. Datasets of the user's own
are functions named by import path (``load("my_package.my_data:make")``) or registered with
:func:`register`; what they return becomes a :class:`Dataset` by :func:`as_dataset`.
"""

from landform.data.base import Dataset, Split, Task
from landform.data.images import (
    cifar10,
    fashion_mnist,
    mnist,
    normalize_images,
    parse_idx,
    read_cifar10_archive,
    read_idx,
    read_svhn_mat,
    svhn,
)
from landform.data.manipulate import (
    NestedSplit,
    balanced_indices,
    class_labels,
    draw_base_and_additions,
    imbalanced_indices,
    imbalanced_nested,
    nest,
    nested_from_indices,
    nested_levels,
    noise_examples,
    poison_labels,
    replace_split,
)
from landform.data.registry import as_dataset, catalog, load, names, register
from landform.data.sources import data_dir, dataset_folder, fetch, is_available
from landform.data.synthetic import (
    modular_addition,
    modular_addition_order,
    modular_addition_pairs,
    swiss_roll,
)
from landform.data.text import (
    Corpus,
    consecutive_windows,
    decode,
    encode,
    random_windows,
    shakespeare,
    shakespeare_corpus,
)
from landform.data.toy import TeacherNetwork, random_teacher, toy_file, toy_regression
from landform.data.uci import read_uci, rmse_in_original_units, to_original_units, uci

__all__ = [
    "Corpus",
    "Dataset",
    "NestedSplit",
    "Split",
    "Task",
    "TeacherNetwork",
    "as_dataset",
    "balanced_indices",
    "catalog",
    "cifar10",
    "class_labels",
    "consecutive_windows",
    "data_dir",
    "dataset_folder",
    "decode",
    "draw_base_and_additions",
    "encode",
    "fashion_mnist",
    "fetch",
    "imbalanced_indices",
    "imbalanced_nested",
    "is_available",
    "load",
    "mnist",
    "modular_addition",
    "modular_addition_order",
    "modular_addition_pairs",
    "names",
    "nest",
    "nested_from_indices",
    "nested_levels",
    "noise_examples",
    "normalize_images",
    "parse_idx",
    "poison_labels",
    "random_teacher",
    "random_windows",
    "read_cifar10_archive",
    "read_idx",
    "read_svhn_mat",
    "read_uci",
    "register",
    "replace_split",
    "rmse_in_original_units",
    "shakespeare",
    "shakespeare_corpus",
    "svhn",
    "swiss_roll",
    "to_original_units",
    "toy_file",
    "toy_regression",
    "uci",
]
