"""Character-level text: tiny Shakespeare for small language models.

The text is encoded with its sorted set of characters as vocabulary (token i is the i-th
character in code-point order). Training and validation take the first and last parts of the
token stream. A split of a language :class:`~landform.data.base.Dataset` holds *windows*: x is
(N, context) int32 tokens and y is the same window shifted by one character, (N, context) int32
next-character targets.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from landform.data.base import Dataset, Split
from landform.data.common import checked, generator
from landform.data.sources import fetch
from landform.errors import ConfigError, DataError


class Corpus(NamedTuple):
    """An encoded text: its vocabulary and the train and validation token streams (int32)."""

    vocabulary: str
    train: np.ndarray
    validation: np.ndarray


def vocabulary_of(text: str) -> str:
    """The sorted distinct characters of ``text``."""
    return "".join(sorted(set(text)))


def encode(text: str, vocabulary: str) -> np.ndarray:
    """int32 tokens: the position of each character of ``text`` in ``vocabulary``."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    vocabulary_codes = np.frombuffer(vocabulary.encode("utf-32-le"), dtype="<u4")
    order = np.argsort(vocabulary_codes, kind="stable")
    sorted_codes = vocabulary_codes[order]
    position = np.clip(np.searchsorted(sorted_codes, codes), 0, max(len(sorted_codes) - 1, 0))
    if len(codes) and (len(sorted_codes) == 0 or not np.array_equal(sorted_codes[position], codes)):
        unknown = sorted({chr(c) for c in codes[~np.isin(codes, vocabulary_codes)]})
        raise DataError(f"characters {unknown[:10]!r} are not in the vocabulary")
    return order[position].astype(np.int32)


def decode(tokens, vocabulary: str) -> str:
    """The text of ``tokens`` (inverse of :func:`encode`)."""
    return "".join(vocabulary[int(t)] for t in np.asarray(tokens).reshape(-1))


def shakespeare_corpus(validation_fraction: float = 0.1) -> Corpus:
    """Tiny Shakespeare (``text/shakespeare.txt``) encoded at the character level.

    The first round((1 - validation_fraction) * L) tokens are for training, the rest for
    validation (the split is by position, not random, so no text leaks across it).
    """
    if not 0.0 < validation_fraction < 1.0:
        raise ConfigError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}")
    path = fetch("shakespeare", "shakespeare.txt")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text ({error}); replace it") from None
    vocabulary = vocabulary_of(text)
    tokens = encode(text, vocabulary)
    boundary = int(round((1.0 - validation_fraction) * len(tokens)))
    return Corpus(vocabulary, tokens[:boundary], tokens[boundary:])


def _check_windows(tokens: np.ndarray, context: int) -> None:
    if context < 1:
        raise ConfigError(f"context must be at least 1, got {context}")
    if len(tokens) < context + 1:
        raise DataError(
            f"a stream of {len(tokens)} tokens is too short for windows of context {context} "
            "(it needs context + 1 tokens)"
        )


def random_windows(tokens, context: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` windows at random starts s ~ Uniform{0, ..., L - context - 1} (with replacement).

    x[i] = tokens[s_i : s_i + context], y[i] = tokens[s_i + 1 : s_i + context + 1]; both
    (n, context) int32. Seeded by ``seed``.
    """
    tokens = np.asarray(tokens)
    _check_windows(tokens, context)
    starts = generator(seed, 0).integers(0, len(tokens) - context, size=int(n))
    index = starts[:, None] + np.arange(context)[None, :]
    return tokens[index].astype(np.int32), tokens[index + 1].astype(np.int32)


def consecutive_windows(tokens, context: int) -> tuple[np.ndarray, np.ndarray]:
    """The non-overlapping windows starting at 0, context, 2 context, ... (x and y as in
    :func:`random_windows`); the incomplete tail is dropped."""
    tokens = np.asarray(tokens)
    _check_windows(tokens, context)
    count = (len(tokens) - 1) // context
    index = np.arange(count)[:, None] * context + np.arange(context)[None, :]
    return tokens[index].astype(np.int32), tokens[index + 1].astype(np.int32)


def shakespeare(
    context: int = 64,
    validation_fraction: float = 0.1,
    seed: int = 0,
    train_windows: int | None = None,
) -> Dataset:
    """Tiny Shakespeare as next-character prediction windows (``task="language"``).

    Vocabulary and split as in :func:`shakespeare_corpus`. The train split holds the
    non-overlapping consecutive windows of the training stream, or, with ``train_windows``,
    that many :func:`random_windows` drawn with ``seed``; the validation split always holds the
    consecutive windows of the validation stream. ``num_classes`` is the vocabulary size and
    ``info["vocabulary"]`` the characters in token order.
    """
    corpus = shakespeare_corpus(validation_fraction)
    if train_windows is None:
        train = consecutive_windows(corpus.train, context)
    else:
        train = random_windows(corpus.train, context, train_windows, seed)
    validation = consecutive_windows(corpus.validation, context)
    return checked(
        Dataset(
            name="shakespeare",
            task="language",
            splits={"train": Split(*train), "validation": Split(*validation)},
            num_classes=len(corpus.vocabulary),
            seed=seed,
            info={
                "source": "tiny Shakespeare (char-rnn), character level",
                "vocabulary": corpus.vocabulary,
                "context": context,
                "validation_fraction": validation_fraction,
                "train_tokens": len(corpus.train),
                "validation_tokens": len(corpus.validation),
                "train_windows": "consecutive" if train_windows is None else train_windows,
                "normalization": None,
            },
        )
    )
