"""Tests of landform.data: loaders, the registry, offline failures and manipulations.

File-backed loaders read the offline copies in ``../shared/datasets`` beside the repository
(tests skip with a reason when they are absent). CIFAR-10 and SVHN have no offline copy: the
tests write small files in the published formats and load those.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import socket
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import landform.data as data
from landform.data import Split, sources
from landform.errors import ConfigError, DataError, DataUnavailableError, UnknownNameError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

UCI_ROWS = {
    "airfoil": 1503,
    "bikesharing": 17379,
    "concrete": 1030,
    "energy": 768,
    "yacht": 308,
    "protein": 45730,
}

# MD5 of the uncompressed IDX files, from shared/datasets/README.md.
MNIST_CONTENT_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def _require_shared() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"offline dataset copies not found at {SHARED} (expected ../shared/datasets)")


@pytest.fixture
def shared_data(monkeypatch):
    _require_shared()
    monkeypatch.setenv("LANDFORM_DATA", str(SHARED))
    return SHARED


@pytest.fixture
def empty_data(monkeypatch, tmp_path):
    monkeypatch.setenv("LANDFORM_DATA", str(tmp_path))
    monkeypatch.delenv("LANDFORM_OFFLINE", raising=False)
    return tmp_path


@pytest.fixture(scope="module")
def mnist_standard():
    _require_shared()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LANDFORM_DATA", str(SHARED))
        return data.mnist()  # verifies the MD5 of the uncompressed content


def _same(a: data.Dataset, b: data.Dataset) -> bool:
    return a.splits.keys() == b.splits.keys() and all(
        np.array_equal(a[k].x, b[k].x) and np.array_equal(a[k].y, b[k].y) for k in a.splits
    )


# --- toy regression ---------------------------------------------------------------------------


def test_toy_regression_sizes_shapes_and_determinism():
    dataset = data.toy_regression(seed=0)
    assert dataset.sizes == {"train": 70, "validation": 18, "test": 33}
    assert dataset.task == "regression"
    for split in dataset.splits.values():
        assert split.x.shape == (len(split), 1) and split.y.shape == (len(split), 1)
        assert split.x.dtype == np.float32 and split.y.dtype == np.float32
    assert np.all(np.abs(dataset.train.x) > 0.6) and np.all(np.abs(dataset["validation"].x) > 0.6)
    np.testing.assert_allclose(dataset.test.x[:, 0], np.linspace(-2.5, 2.5, 33), rtol=1e-6)
    assert _same(dataset, data.toy_regression(seed=0))
    other = data.toy_regression(seed=1)
    assert not np.array_equal(dataset.train.y, other.train.y)
    # the teacher has its own seed: another noise seed gives the same function, other noise
    assert np.abs(dataset.train.y - other.train.y).max() < 0.5


def test_toy_regression_is_teacher_plus_noise():
    teacher = data.random_teacher(3)
    clean = data.toy_regression(teacher=teacher, noise=0.0)
    np.testing.assert_allclose(clean.train.y, teacher(clean.train.x), rtol=1e-5, atol=1e-6)
    noisy = data.toy_regression(teacher=teacher, noise=0.05, seed=4)
    residual = noisy.train.y - clean.train.y
    assert 0.02 < residual.std() < 0.08
    # the default teacher is standardised on [-2, 2]
    values = data.random_teacher(0)(np.linspace(-2, 2, 201))
    assert abs(values.mean()) < 1e-9 and abs(values.std() - 1.0) < 1e-9


def test_toy_file(shared_data):
    dataset = data.toy_file()
    assert dataset.sizes == {"train": 70, "test": 33}
    assert dataset.train.x.shape == (70, 1) and dataset.train.y.shape == (70, 1)
    held = data.toy_file(validation_fraction=0.2, seed=1)
    assert held.sizes == {"train": 56, "validation": 14, "test": 33}
    assert _same(held, data.toy_file(validation_fraction=0.2, seed=1))
    assert not _same(held, data.toy_file(validation_fraction=0.2, seed=2))
    together = np.sort(np.concatenate([held.train.x, held["validation"].x])[:, 0])
    np.testing.assert_array_equal(together, np.sort(dataset.train.x[:, 0]))


def test_toy_file_missing_has_no_download(empty_data):
    with pytest.raises(DataUnavailableError) as error:
        data.toy_file()
    message = str(error.value)
    assert "regression_data.npz" in message and str(empty_data / "toy") in message
    assert "no public download" in message


# --- swiss roll and modular addition ----------------------------------------------------------


def test_swiss_roll_formula_and_symmetry():
    dataset = data.swiss_roll(n_train=400, n_test=100, noise=0.0, seed=0)
    assert dataset.sizes == {"train": 400, "test": 100}
    assert dataset.task == "binary" and dataset.num_classes == 2
    x, y = dataset.train.x.astype(np.float64), dataset.train.y
    assert y.dtype == np.int32 and set(np.unique(y)) == {0, 1}
    assert (y == 0).sum() == (y == 1).sum() == 200
    zero = x[y == 0]
    t = np.linalg.norm(zero, axis=1) / 1.5
    assert t.min() >= 0 and t.max() <= 1.7 * 2 * np.pi + 1e-4
    np.testing.assert_allclose(zero, data.synthetic.spiral_points(t), atol=1e-4)
    # class 1 is the negation of class 0
    one = x[y == 1]
    np.testing.assert_array_equal(np.sort(-zero, axis=0), np.sort(one, axis=0))


def test_swiss_roll_noise_determinism_and_streams():
    dataset = data.swiss_roll(n_train=1000, n_test=200, noise=0.3, seed=0)
    x, y = dataset.train.x, dataset.train.y
    np.testing.assert_array_equal(np.sort(-x[y == 0], axis=0), np.sort(x[y == 1], axis=0))
    assert _same(dataset, data.swiss_roll(n_train=1000, n_test=200, noise=0.3, seed=0))
    assert not np.array_equal(x, data.swiss_roll(n_train=1000, n_test=200, seed=1).train.x)
    # the test set comes from its own stream: it does not depend on the training size
    smaller = data.swiss_roll(n_train=200, n_test=200, noise=0.3, seed=0)
    np.testing.assert_array_equal(smaller.test.x, dataset.test.x)
    odd = data.swiss_roll(n_train=11, n_test=4, seed=0).train.y
    assert len(odd) == 11 and (odd == 0).sum() == 6 and (odd == 1).sum() == 5
    with pytest.raises(ConfigError):
        data.swiss_roll(n_train=1)


def _pairs(x: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    return np.argmax(x[:, :p], axis=1), np.argmax(x[:, p:], axis=1)


def test_modular_addition_targets_and_disjoint_splits():
    p = 97
    dataset = data.modular_addition(p=p, train_fraction=0.3, seed=0)
    assert dataset.sizes == {"train": round(0.3 * p * p), "test": p * p - round(0.3 * p * p)}
    assert dataset.train.x.shape[1] == 2 * p and dataset.train.x.dtype == np.float32
    assert np.all(dataset.train.x.sum(axis=1) == 2)
    ids = {}
    for name, split in dataset.splits.items():
        a, b = _pairs(split.x, p)
        np.testing.assert_array_equal(split.y, (a + b) % p)
        assert split.y.dtype == np.int32
        ids[name] = a * p + b
    assert np.intersect1d(ids["train"], ids["test"]).size == 0
    assert np.union1d(ids["train"], ids["test"]).size == p * p
    order = data.modular_addition_order(p, 0)
    np.testing.assert_array_equal(ids["train"], order[: len(dataset.train)])
    assert _same(dataset, data.modular_addition(p=p, seed=0))
    assert not np.array_equal(dataset.train.x, data.modular_addition(p=p, seed=1).train.x)


def test_modular_addition_onehot_targets():
    p = 11
    dataset = data.modular_addition(p=p, train_fraction=0.5, seed=3, target="onehot")
    assert dataset.task == "regression" and dataset.train.y.shape == (len(dataset.train), p)
    assert dataset.train.y.dtype == np.float32
    a, b = _pairs(dataset.test.x, p)
    np.testing.assert_array_equal(np.argmax(dataset.test.y, axis=1), (a + b) % p)
    np.testing.assert_array_equal(dataset.test.y.sum(axis=1), 1.0)


# --- UCI --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UCI_ROWS))
def test_uci_row_counts_and_split_sizes(shared_data, name):
    dataset = data.uci(name)
    total = UCI_ROWS[name]
    train, validation = round(0.7 * total), round(0.1 * total)
    test = total - train - validation
    assert dataset.sizes == {"train": train, "validation": validation, "test": test}
    assert dataset.train.y.shape == (train, 1)
    assert dataset.train.x.dtype == np.float32 and dataset.train.y.dtype == np.float32
    json.dumps(dataset.describe())


def test_uci_standardisation_statistics(shared_data):
    raw = data.read_uci("concrete")
    trained = data.uci("concrete", seed=0)
    for values in (trained.train.x, trained.train.y):
        np.testing.assert_allclose(values.mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(values.std(axis=0), 1.0, atol=1e-5)
    assert abs(trained.test.y.mean()) > 1e-4  # held-out data is not re-centred
    full = data.uci("concrete", seed=0, standardize="full")
    everything = Split.concatenate(list(full.splits.values()))
    np.testing.assert_allclose(everything.x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(everything.y.std(), 1.0, atol=1e-5)
    assert full.info["target_mean"] == pytest.approx(raw[:, -1].mean())
    assert full.info["target_std"] == pytest.approx(raw[:, -1].std())
    unscaled = data.uci("concrete", seed=0, standardize=None)
    rows = np.concatenate([unscaled.train.x, unscaled.train.y], axis=1)
    assert {tuple(r) for r in rows} <= {tuple(r) for r in raw.astype(np.float32)}
    # back to original units
    original = data.to_original_units(trained, Split.concatenate(list(trained.splits.values())).y)
    np.testing.assert_allclose(np.sort(original[:, 0]), np.sort(raw[:, -1]), rtol=1e-5)
    error = data.rmse_in_original_units(trained, trained.test.y[:, 0] + 0.1, trained.test.y)
    assert error == pytest.approx(0.1 * trained.info["target_std"], rel=1e-4)


def test_uci_determinism(shared_data):
    assert _same(data.uci("yacht", seed=3), data.uci("yacht", seed=3))
    assert not np.array_equal(data.uci("yacht", seed=3).train.x, data.uci("yacht", seed=4).train.x)
    assert _same(data.load("yacht", seed=3), data.uci("yacht", seed=3))


def test_uci_non_finite_values_are_a_data_error(empty_data):
    (empty_data / "uci").mkdir()
    rows = np.random.default_rng(0).normal(size=(308, 7))
    rows[5, 2] = np.nan
    np.savetxt(empty_data / "uci" / "yacht.data", rows)
    with pytest.raises(DataError, match="NaN"):
        data.uci("yacht")
    rows[5, 2] = np.inf
    np.savetxt(empty_data / "uci" / "yacht.data", rows)
    with pytest.raises(DataError, match="NaN or infinite"):
        data.uci("yacht")


# --- MNIST and Fashion-MNIST --------------------------------------------------------------------


def test_mnist_sizes_and_standardisation(mnist_standard):
    dataset = mnist_standard
    assert dataset.sizes == {"train": 60000, "test": 10000}
    assert dataset.train.x.shape == (60000, 784) and dataset.train.x.dtype == np.float32
    assert dataset.train.y.dtype == np.int32 and set(np.unique(dataset.train.y)) == set(range(10))
    assert abs(dataset.train.x.mean()) < 1e-3 and abs(dataset.train.x.std() - 1.0) < 1e-3
    assert dataset.info["normalization"] == "standard"


def test_mnist_content_md5(shared_data):
    for stem, expected in MNIST_CONTENT_MD5.items():
        content = gzip.decompress((shared_data / "mnist" / f"{stem}.gz").read_bytes())
        assert hashlib.md5(content).hexdigest() == expected
        assert data.images.CONTENT_MD5["mnist"][stem] == expected
    with pytest.raises(DataError, match="MD5"):
        data.read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz", expected_md5="0" * 32)


def test_mnist_normalisations_and_layout(mnist_standard, shared_data):
    labels = data.read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    images = data.read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, mnist_standard.test.y)
    raw = data.normalize_images(images[..., None], None)
    unit = data.normalize_images(images[..., None], "unit")
    standard = data.normalize_images(images[..., None], "standard", (0.1307,), (0.3081,))
    assert raw.max() == 255.0 and unit.max() == 1.0 and unit.dtype == np.float32
    np.testing.assert_allclose(standard, (unit - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mnist_standard.test.x, standard.reshape(10000, -1), atol=1e-6)


def test_fashion_mnist(shared_data):
    dataset = data.fashion_mnist(normalize="unit", flatten=False, validation_size=5000, seed=1)
    assert dataset.sizes == {"train": 55000, "validation": 5000, "test": 10000}
    assert dataset.train.x.shape[1:] == (28, 28, 1)
    assert 0.0 <= dataset.train.x.min() and dataset.train.x.max() <= 1.0


def test_idx_parsing_rejects_damaged_files():
    header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    np.testing.assert_array_equal(data.parse_idx(header + bytes(range(6))), [[0, 1, 2], [3, 4, 5]])
    with pytest.raises(DataError, match="announces"):
        data.parse_idx(header + bytes(range(5)))
    with pytest.raises(DataError, match="IDX header"):
        data.parse_idx(b"\x01\x02\x03")


# --- CIFAR-10 and SVHN from small files in the published formats ------------------------------


def _write_cifar_archive(folder: Path, per_batch: int = 4) -> dict[str, np.ndarray]:
    random = np.random.default_rng(0)
    written = {}
    archive_path = folder / "cifar10" / "cifar-10-python.tar.gz"
    archive_path.parent.mkdir(parents=True)
    with tarfile.open(archive_path, "w:gz") as archive:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {
                b"batch_label": name.encode(),
                b"labels": [int(v) for v in random.integers(0, 10, per_batch)],
                b"data": random.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)],
            }
            written[name] = batch
            payload = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return written


def test_cifar10_from_small_archive(empty_data):
    written = _write_cifar_archive(empty_data)
    dataset = data.cifar10(normalize=None)
    assert dataset.sizes == {"train": 20, "test": 4}
    assert dataset.train.x.shape == (20, 32, 32, 3) and dataset.train.x.dtype == np.float32
    first = written["data_batch_1"]
    # row layout: 1024 red, 1024 green, 1024 blue values, each row-major 32 x 32
    for channel in range(3):
        assert dataset.train.x[0, 2, 3, channel] == first[b"data"][0, channel * 1024 + 2 * 32 + 3]
    np.testing.assert_array_equal(dataset.train.y[:4], first[b"labels"])
    np.testing.assert_array_equal(dataset.test.y, written["test_batch"][b"labels"])
    standard = data.cifar10(normalize="standard")
    mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2470, 0.2435, 0.2616])
    np.testing.assert_allclose(standard.train.x, (dataset.train.x / 255 - mean) / std, atol=1e-5)
    assert data.cifar10(normalize="unit", flatten=True).train.x.shape == (20, 3072)


def test_cifar10_archive_refuses_code(empty_data):
    class Exploit:
        def __reduce__(self):
            return (print, ("this must not run",))

    archive_path = empty_data / "cifar10" / "cifar-10-python.tar.gz"
    archive_path.parent.mkdir(parents=True)
    with tarfile.open(archive_path, "w:gz") as archive:
        payload = pickle.dumps({b"data": Exploit()}, protocol=2)
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    with pytest.raises(DataError, match="refusing"):
        data.cifar10()


def test_svhn_from_small_mat_files(empty_data):
    from scipy.io import savemat

    random = np.random.default_rng(1)
    (empty_data / "svhn").mkdir()
    written = {}
    for name, count in (("train", 6), ("test", 3)):
        images = random.integers(0, 256, (32, 32, 3, count), dtype=np.uint8)
        labels = np.array([[10], [1], [9], [10], [5], [3]][:count], dtype=np.uint8)
        savemat(empty_data / "svhn" / f"{name}_32x32.mat", {"X": images, "y": labels})
        written[name] = (images, labels)
    dataset = data.svhn(normalize=None)
    assert dataset.sizes == {"train": 6, "test": 3}
    np.testing.assert_array_equal(dataset.train.y, [0, 1, 9, 0, 5, 3])
    np.testing.assert_array_equal(dataset.train.x[4], written["train"][0][:, :, :, 4])
    assert dataset.train.x.shape == (6, 32, 32, 3)


# --- Shakespeare -------------------------------------------------------------------------------


def test_shakespeare_corpus_and_windows(shared_data):
    corpus = data.shakespeare_corpus()
    text = (shared_data / "text" / "shakespeare.txt").read_text(encoding="utf-8")
    assert corpus.vocabulary == "".join(sorted(set(text))) and len(corpus.vocabulary) == 65
    assert len(corpus.train) == round(0.9 * len(text))
    assert len(corpus.train) + len(corpus.validation) == len(text) == 1_115_390
    assert data.decode(corpus.train[:200], corpus.vocabulary) == text[:200]
    dataset = data.shakespeare(context=32)
    assert dataset.task == "language" and dataset.num_classes == 65
    np.testing.assert_array_equal(dataset.train.x[1], corpus.train[32:64])
    np.testing.assert_array_equal(dataset.train.y[1], corpus.train[33:65])
    assert dataset.train.x.dtype == np.int32


def test_random_windows_are_shifted_by_one():
    tokens = np.arange(1000, dtype=np.int32) * 7 % 13
    x, y = data.random_windows(tokens, context=16, n=50, seed=2)
    assert x.shape == y.shape == (50, 16) and x.dtype == np.int32
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    sequence = np.arange(1000, dtype=np.int32)
    sx, sy = data.random_windows(sequence, context=16, n=50, seed=2)
    np.testing.assert_array_equal(sy, sx + 1)
    np.testing.assert_array_equal(sx, sx[:, :1] + np.arange(16))
    assert sx.max() < 999  # the target of the last position exists
    np.testing.assert_array_equal(sx, data.random_windows(sequence, 16, 50, seed=2)[0])
    assert not np.array_equal(sx, data.random_windows(sequence, 16, 50, seed=3)[0])


# --- registry, catalog and offline failures -----------------------------------------------------


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownNameError) as error:
        data.load("imagenet")
    assert "mnist" in str(error.value) and "swiss_roll" in str(error.value)
    assert "imagenet" in str(error.value)
    with pytest.raises(ConfigError, match="options"):
        data.load("swiss_roll", colour="red")


def test_catalog_reports_availability(empty_data):
    records = {record["name"]: record for record in data.catalog()}
    assert set(records) == set(data.names())
    for name in ("mnist", "cifar10", "svhn", "yacht", "toy_file", "shakespeare"):
        assert records[name]["available"] is False
        assert records[name]["folder"].startswith(str(empty_data)) and records[name]["files"]
    assert records["swiss_roll"]["available"] is True
    urls = records["mnist"]["urls"]
    assert urls and all(url.startswith("http") for url in urls)
    assert all(isinstance(record["source"], str) for record in records.values())
    json.dumps(list(records.values()))


def test_catalog_with_offline_copies(shared_data):
    records = {record["name"]: record for record in data.catalog()}
    for name in ("mnist", "fashion_mnist", "yacht", "protein", "toy_file", "shakespeare"):
        assert records[name]["available"] is True
    assert records["cifar10"]["available"] is False


def test_missing_files_fail_fast_and_name_the_folder(empty_data, monkeypatch):
    unreachable = "http://127.0.0.1:9/"
    monkeypatch.setitem(sources.SOURCES, "mnist", sources.SOURCES["mnist"].with_urls(unreachable))
    start = time.monotonic()
    with pytest.raises(DataUnavailableError) as error:
        data.mnist()
    elapsed = time.monotonic() - start
    assert elapsed < 30  # a guard against hanging, not a performance measurement
    message = str(error.value)
    assert "'mnist'" in message and str(empty_data / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert unreachable in message
    assert not (empty_data / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_offline_switch_fails_without_network(empty_data, monkeypatch):
    monkeypatch.setenv("LANDFORM_OFFLINE", "1")
    with pytest.raises(DataUnavailableError) as error:
        data.cifar10()
    assert "cifar-10-python.tar.gz" in str(error.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in str(error.value)


def test_hanging_connection_is_cut_off(empty_data, monkeypatch):
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(60)
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)
    monkeypatch.setattr(sources, "REACHABILITY_TIMEOUT", 0.2)
    start = time.monotonic()
    try:
        with pytest.raises(DataUnavailableError, match="within"):
            data.svhn()
    finally:
        release.set()
    assert time.monotonic() - start < 30  # a guard against hanging


def test_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LANDFORM_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    assert data.dataset_folder("fashion_mnist") == tmp_path / "fashion-mnist"
    monkeypatch.delenv("LANDFORM_DATA")
    assert data.data_dir().name == "landform"


# --- manipulations ------------------------------------------------------------------------------


def _classification_split(count: int = 20000, classes: int = 10) -> Split:
    random = np.random.default_rng(5)
    x = random.normal(2.0, 3.0, size=(count, 4)).astype(np.float32)
    y = (np.arange(count) % classes).astype(np.int32)
    return Split(x, y)


def test_poisoned_labels_are_always_wrong_and_seeded():
    split = _classification_split(5000)
    indices = np.arange(0, 5000, 2)
    poisoned = data.poison_labels(split, indices, num_classes=10, seed=0)
    assert np.all(poisoned.y[indices] != split.y[indices])
    untouched = np.setdiff1d(np.arange(5000), indices)
    np.testing.assert_array_equal(poisoned.y[untouched], split.y[untouched])
    assert poisoned.y.dtype == split.y.dtype
    np.testing.assert_array_equal(poisoned.x, split.x)
    np.testing.assert_array_equal(poisoned.y, data.poison_labels(split, indices, 10, seed=0).y)
    assert not np.array_equal(poisoned.y, data.poison_labels(split, indices, 10, seed=1).y)
    # uniform over the nine wrong labels
    shifts = (poisoned.y[indices] - split.y[indices]) % 10
    counts = np.bincount(shifts, minlength=10)
    assert counts[0] == 0 and np.all(np.abs(counts[1:] / len(indices) - 1 / 9) < 0.03)
    with pytest.raises(ConfigError, match="distinct"):
        data.poison_labels(split, [1, 1], 10, seed=0)
    with pytest.raises(ConfigError, match="distinct"):
        data.poison_labels(split, [4999, -1], 10, seed=0)


def test_poisoned_onehot_targets():
    labels = np.arange(100) % 4
    split = Split(np.zeros((100, 2), np.float32), np.eye(4, dtype=np.float32)[labels])
    poisoned = data.poison_labels(split, np.arange(100), num_classes=4, seed=0)
    assert poisoned.y.shape == (100, 4) and np.all(poisoned.y.sum(axis=1) == 1)
    assert np.all(np.argmax(poisoned.y, axis=1) != labels)


def test_nested_levels_are_prefixes_sharing_the_base():
    dataset = data.swiss_roll(n_train=2000, n_test=200, seed=0)
    test_before = dataset.test.x.copy()
    nested = data.nested_levels(dataset.train, [100, 150, 400], seed=3)
    assert nested.level_sizes == (100, 150, 400) and nested.base_size == 100
    assert len(nested.split) == 400 and len(nested) == 3
    for k in range(len(nested) - 1):
        small, large = nested.level(k), nested.level(k + 1)
        np.testing.assert_array_equal(large.x[: len(small)], small.x)
    assert np.unique(nested.indices).size == 400  # without replacement
    np.testing.assert_array_equal(nested.split.x, dataset.train.x[nested.indices])
    # another experiment with the same seed shares B and the order of A
    other = data.nested_levels(dataset.train, [100, 250], seed=3)
    np.testing.assert_array_equal(other.base.x, nested.base.x)
    np.testing.assert_array_equal(other.split.x, nested.split.x[:250])
    reseeded = data.nested_levels(dataset.train, [100], seed=4)
    assert not np.array_equal(reseeded.base.x, nested.base.x)
    # test data untouched
    sizes = list(nested.level_sizes)
    replaced = data.replace_split(dataset, "train", nested.split, level_sizes=sizes)
    np.testing.assert_array_equal(replaced.test.x, test_before)
    assert replaced.info["level_sizes"] == [100, 150, 400] and len(dataset.train) == 2000
    with pytest.raises(ConfigError):
        data.nested_levels(dataset.train, [300, 200], seed=0)


def test_nested_with_poisoned_and_noise_additions():
    split = _classification_split(3000)
    base, additions = data.draw_base_and_additions(len(split), 500, 300, seed=0)
    assert np.intersect1d(base, additions).size == 0
    poisoned = data.poison_labels(split.take(additions), np.arange(300), 10, seed=0)
    nested = data.nest(split.take(base), poisoned, [500, 600, 800])
    assert np.all(nested.level(2).y[500:] != split.y[additions])
    noise = data.noise_examples(split, 200, 10, seed=0)
    with_noise = data.nest(split.take(base), noise, [500, 700])
    np.testing.assert_array_equal(with_noise.level(1).x[500:], noise.x)


def test_noise_examples_statistics():
    split = _classification_split(20000)
    noise = data.noise_examples(split, 20000, num_classes=10, seed=0)
    assert noise.x.shape == (20000, 4) and noise.x.dtype == np.float32
    assert noise.y.dtype == np.int32 and set(np.unique(noise.y)) == set(range(10))
    assert abs(noise.x.mean() - split.x.mean()) < 0.05
    assert abs(noise.x.std() / split.x.std() - 1.0) < 0.02
    np.testing.assert_array_equal(noise.x, data.noise_examples(split, 20000, 10, seed=0).x)
    assert not np.array_equal(noise.x, data.noise_examples(split, 20000, 10, seed=1).x)


def test_class_imbalance_fractions_are_exact():
    split = _classification_split(20000)
    labels = split.y
    chosen = data.imbalanced_indices(labels, 1500, 0.9, classes=(0, 1), seed=0)
    assert chosen.size == np.unique(chosen).size == 1500
    assert np.isin(labels[chosen], [0, 1]).sum() == 1350
    sizes = (1500, 2000, 3000, 6000, 10000)
    nested = data.imbalanced_nested(split, sizes, fraction=0.9, classes=(0, 1), seed=0)
    assert nested.level_sizes == sizes and np.unique(nested.indices).size == 10000
    assert np.isin(nested.base.y, [0, 1]).sum() == 1350
    additions = nested.additions.y
    assert np.all(np.bincount(additions, minlength=10) == 850)
    for size in (500, 1500, 4500):
        counts = np.bincount(additions[:size], minlength=10)
        assert counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(nested.indices, data.imbalanced_nested(split, sizes, 0.9, (0, 1), seed=0).indices)
    with pytest.raises(ConfigError, match="available"):
        data.imbalanced_indices(labels[:100], 50, 0.9, classes=(0,), seed=0)


@pytest.fixture
def local_server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving a temporary folder (downloads without a network)."""
    import functools
    import http.server

    for scheme in ("http", "https", "all"):
        for variable in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
            monkeypatch.delenv(variable, raising=False)
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=served)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_download_and_conversion_through_pooch(empty_data, local_server, monkeypatch):
    served, url = local_server
    rows = np.random.default_rng(0).normal(size=(308, 7))
    np.savetxt(served / "yacht.data", rows, delimiter="\t")
    monkeypatch.setitem(sources.SOURCES, "yacht", sources.SOURCES["yacht"].with_urls(url))
    dataset = data.uci("yacht", standardize=None)
    assert sum(dataset.sizes.values()) == 308
    stored = np.loadtxt(empty_data / "uci" / "yacht.data")
    np.testing.assert_allclose(stored, rows, rtol=1e-9)
    assert sorted(p.name for p in (empty_data / "uci").iterdir()) == ["yacht.data"]


def test_download_with_wrong_hash_is_unavailable(empty_data, local_server, monkeypatch):
    served, url = local_server
    (served / "cifar-10-python.tar.gz").write_bytes(b"not the archive")
    monkeypatch.setitem(sources.SOURCES, "cifar10", sources.SOURCES["cifar10"].with_urls(url))
    with pytest.raises(DataUnavailableError, match="cifar-10-python.tar.gz"):
        data.cifar10()
    assert not (empty_data / "cifar10" / "cifar-10-python.tar.gz").exists()
