"""Image classification sets: MNIST, Fashion-MNIST, CIFAR-10 and SVHN, read from their
published formats (IDX, python-pickle batches in a tar.gz, MATLAB .mat files).

Images come back as float32 in NHWC layout, (N, height, width, channels), or flattened to
(N, height * width * channels); labels are int32 class indices. Normalisations:

- ``None``: the raw pixel values 0 .. 255 as float32,
- ``"unit"``: x / 255, in [0, 1],
- ``"standard"``: (x / 255 - mean) / std with the dataset's usual per-channel training-set
  statistics (:data:`STATISTICS`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from landform.data.base import Dataset, Split
from landform.data.common import checked, hold_out
from landform.data.sources import SOURCES, fetch
from landform.errors import ConfigError, DataError

Normalization = Literal["standard", "unit"] | None

STATISTICS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "svhn": ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)),
}
"""Per-channel (mean, std) of the training images after scaling to [0, 1]."""

CONTENT_MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
"""MD5 of the *uncompressed* IDX files. Gzip wrappings differ between mirrors; the content
does not, so local copies are verified on these."""

CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion_mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    "svhn": tuple(str(digit) for digit in range(10)),
}

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(raw: bytes, origin: str = "IDX data") -> np.ndarray:
    """Decode IDX bytes (LeCun's format): 2 zero bytes, a type code, the number of dimensions
    n, n big-endian uint32 sizes, then the values in row-major order."""
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_TYPES:
        raise DataError(f"{origin} does not start with an IDX header; replace the file")
    dimensions = raw[3]
    offset = 4 + 4 * dimensions
    if len(raw) < offset:
        raise DataError(f"{origin} is truncated inside its IDX header; replace the file")
    shape = struct.unpack(">" + "I" * dimensions, raw[4:offset])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise DataError(
            f"{origin} holds {len(raw) - offset} bytes of values, but its header {shape} "
            f"announces {expected}; the file is damaged, replace it"
        )
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)


def read_idx(path: str | Path, expected_md5: str | None = None) -> np.ndarray:
    """Read an IDX file, gzip-compressed if its name ends in ``.gz``.

    With ``expected_md5``, the MD5 of the uncompressed bytes must match, else
    :class:`~landform.errors.DataError`.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"cannot decompress {path} ({error}); replace the file") from None
    if expected_md5 is not None:
        actual = hashlib.md5(raw).hexdigest()
        if actual != expected_md5:
            raise DataError(
                f"the uncompressed content of {path} has MD5 {actual}, expected {expected_md5}; "
                "the file is damaged or not the published one: delete it and fetch it again"
            )
    return parse_idx(raw, str(path))


def normalize_images(images: np.ndarray, normalize: Normalization, mean=(0.0,), std=(1.0,)) -> np.ndarray:
    """Float32 images from raw 0 .. 255 values: None (unchanged), "unit" (x / 255) or
    "standard" ((x / 255 - mean) / std, mean and std broadcast over the last, channel, axis)."""
    x = np.asarray(images, dtype=np.float32)
    if normalize is None:
        return x
    if normalize not in ("unit", "standard"):
        raise ConfigError(f"normalize must be 'standard', 'unit' or None, got {normalize!r}")
    x = x / np.float32(255.0)
    if normalize == "standard":
        x -= np.asarray(mean, dtype=np.float32)
        x /= np.asarray(std, dtype=np.float32)
    return x


def _finish(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    normalize: Normalization,
    flatten: bool,
    validation_size: int,
    seed: int,
    source: str,
) -> Dataset:
    """Normalise NHWC uint8 images, flatten if asked, hold out validation, check."""
    if normalize not in ("standard", "unit", None):
        raise ConfigError(f"normalize must be 'standard', 'unit' or None, got {normalize!r}")
    mean, std = STATISTICS[name]
    splits = {}
    for split_name, (images, labels) in (("train", train), ("test", test)):
        labels = np.asarray(labels).reshape(-1).astype(np.int32)
        if len(labels) != len(images):
            raise DataError(
                f"{name} {split_name}: {len(images)} images but {len(labels)} labels; "
                "the files do not belong together, replace them"
            )
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise DataError(f"{name} {split_name}: labels outside 0 .. 9; replace the files")
        x = normalize_images(images, normalize, mean, std)
        if flatten:
            x = x.reshape(len(x), -1)
        splits[split_name] = Split(x, labels)
    if validation_size:
        splits["train"], splits["validation"] = hold_out(splits["train"], validation_size, seed)
    return checked(
        Dataset(
            name=name,
            task="classification",
            splits=splits,
            num_classes=10,
            seed=seed,
            info={
                "source": source,
                "normalization": normalize,
                "mean": list(mean) if normalize == "standard" else None,
                "std": list(std) if normalize == "standard" else None,
                "layout": "flat" if flatten else "NHWC",
                "classes": list(CLASS_NAMES[name]),
            },
        )
    )


def _idx_dataset(
    name: str,
    normalize: Normalization,
    flatten: bool,
    validation_size: int,
    seed: int,
    verify: bool,
) -> Dataset:
    arrays = {}
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        path = fetch(name, stem + ".gz")
        arrays[stem] = read_idx(path, CONTENT_MD5[name][stem] if verify else None)
    train = (arrays["train-images-idx3-ubyte"][..., None], arrays["train-labels-idx1-ubyte"])
    test = (arrays["t10k-images-idx3-ubyte"][..., None], arrays["t10k-labels-idx1-ubyte"])
    return _finish(name, train, test, normalize, flatten, validation_size, seed, SOURCES[name].description)


def mnist(
    normalize: Normalization = "standard",
    flatten: bool = True,
    validation_size: int = 0,
    seed: int = 0,
    verify: bool = True,
) -> Dataset:
    """MNIST (LeCun et al. 1998): 60,000 training and 10,000 test digits, 28 x 28 grey.

    Read from the four IDX gzip files in ``mnist/``; with ``verify`` the MD5 of each file's
    uncompressed content is checked (:data:`CONTENT_MD5`). ``flatten=True`` gives x of shape
    (N, 784), else (N, 28, 28, 1). "standard" uses mean 0.1307 and std 0.3081.
    ``validation_size`` training images, chosen at random with ``seed``, form a validation
    split instead.
    """
    return _idx_dataset("mnist", normalize, flatten, validation_size, seed, verify)


def fashion_mnist(
    normalize: Normalization = "standard",
    flatten: bool = True,
    validation_size: int = 0,
    seed: int = 0,
    verify: bool = True,
) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 / 10,000 clothing images, 28 x 28 grey.

    As :func:`mnist`, from ``fashion-mnist/``; "standard" uses mean 0.2860 and std 0.3530.
    """
    return _idx_dataset("fashion_mnist", normalize, flatten, validation_size, seed, verify)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and NumPy arrays only, so a crafted file cannot run code."""

    _allowed = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def read_cifar10_archive(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The train (data_batch_1 .. 5) and test (test_batch) images and labels of
    ``cifar-10-python.tar.gz``, as uint8 NHWC (N, 32, 32, 3) and int32 labels.

    Each batch is a pickled dict with ``b"data"`` (N, 3072) uint8 (1024 red, 1024 green, 1024
    blue values, each a row-major 32 x 32 image) and ``b"labels"``.
    """
    path = Path(path)
    wanted = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches: dict[str, dict] = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive.getmembers():
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in wanted:
                    handle = archive.extractfile(member)
                    unpickler = _ArrayUnpickler(io.BytesIO(handle.read()), encoding="bytes")
                    batches[base] = unpickler.load()
    except (tarfile.TarError, OSError, EOFError, pickle.UnpicklingError) as error:
        raise DataError(f"cannot read {path} as the CIFAR-10 python archive ({error})") from None
    missing = [name for name in wanted if name not in batches]
    if missing:
        raise DataError(f"{path} lacks the batches {missing}; replace it with the published archive")

    def join(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        try:
            data = np.concatenate([np.asarray(batches[n][b"data"], dtype=np.uint8) for n in names])
            labels = np.concatenate([np.asarray(batches[n][b"labels"]) for n in names])
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"{path}: a batch lacks b'data' or b'labels' ({error})") from None
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{path}: batch data has shape {data.shape}, expected (N, 3072)")
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels.astype(np.int32)

    return {"train": join(wanted[:5]), "test": join(wanted[5:])}


def cifar10(
    normalize: Normalization = "standard",
    flatten: bool = False,
    validation_size: int = 0,
    seed: int = 0,
) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009): 50,000 / 10,000 colour images, 32 x 32 x 3, 10 classes.

    Read from ``cifar10/cifar-10-python.tar.gz`` (:func:`read_cifar10_archive`). x is NHWC
    (N, 32, 32, 3) float32, or (N, 3072) with ``flatten``. "standard" uses the per-channel mean
    (0.4914, 0.4822, 0.4465) and std (0.2470, 0.2435, 0.2616) of the training images.
    """
    arrays = read_cifar10_archive(fetch("cifar10", "cifar-10-python.tar.gz"))
    return _finish(
        "cifar10",
        arrays["train"],
        arrays["test"],
        normalize,
        flatten,
        validation_size,
        seed,
        SOURCES["cifar10"].description,
    )


def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int32 of an SVHN ``*_32x32.mat`` file.

    The file stores ``X`` as (32, 32, 3, N) and ``y`` as (N, 1) with labels 1 .. 10, where 10
    stands for the digit 0; it is mapped to 0.
    """
    from scipy.io import loadmat

    path = Path(path)
    try:
        content = loadmat(path)
    except Exception as error:  # noqa: BLE001 - scipy raises several unrelated types
        raise DataError(f"cannot read {path} as a MATLAB file ({error}); replace it") from None
    if "X" not in content or "y" not in content:
        raise DataError(f"{path} lacks the variables X and y; replace it with the published file")
    images, labels = np.asarray(content["X"]), np.asarray(content["y"]).reshape(-1)
    if images.ndim != 4 or images.shape[:3] != (32, 32, 3):
        raise DataError(f"{path}: X has shape {images.shape}, expected (32, 32, 3, N)")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise DataError(f"{path}: labels outside 1 .. 10; replace the file")
    labels[labels == 10] = 0
    images = np.ascontiguousarray(images.transpose(3, 0, 1, 2)).astype(np.uint8)
    return images, labels.astype(np.int32)


def svhn(
    normalize: Normalization = "standard",
    flatten: bool = False,
    validation_size: int = 0,
    seed: int = 0,
) -> Dataset:
    """SVHN cropped digits (Netzer et al. 2011): 73,257 / 26,032 images, 32 x 32 x 3.

    Read from ``svhn/train_32x32.mat`` and ``svhn/test_32x32.mat`` (:func:`read_svhn_mat`;
    the extra set is not used). Label 10 (digit 0) becomes 0. "standard" uses the per-channel
    mean (0.4377, 0.4438, 0.4728) and std (0.1980, 0.2010, 0.1970).
    """
    train = read_svhn_mat(fetch("svhn", "train_32x32.mat"))
    test = read_svhn_mat(fetch("svhn", "test_32x32.mat"))
    return _finish("svhn", train, test, normalize, flatten, validation_size, seed, SOURCES["svhn"].description)
