"""The intent classifier: hashed word and character n-grams scored by one logistic regression per
intent, plus a few explicit phrase rules. Runs offline on a CPU in about a millisecond per
prompt; nothing is downloaded.

The weights are plain arrays in ``data/prompt_intents.npz`` (made by ``manage.py
train_prompt_topics``) and are read with ``allow_pickle=False``: loading them can never run code.
Features are hashed with CRC-32, which is the same in every process (Python's ``hash`` is not)."""

from __future__ import annotations

import functools
import itertools
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURE_BITS = 18
DIMENSION = 1 << FEATURE_BITS
MODEL_PATH = Path(__file__).resolve().parent / "data" / "prompt_intents.npz"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@functools.lru_cache(maxsize=65536)
def _word_features(word: str) -> tuple[int, ...]:
    """The hashed features of one word: itself and its character 3- and 4-grams (with word edges),
    which carry misspellings, inflections and split words."""
    padded = f" {word} "
    grams = [f"w:{word}"]
    for n in (3, 4):
        grams.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return tuple(zlib.crc32(g.encode()) & (DIMENSION - 1) for g in grams)


def features(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices, values): the text's binary hashed features, L2-normalised. ``text`` should be
    normalised first (``normalize.normalize(...).scored``)."""
    words = _WORD.findall(text.lower())
    found: set[int] = set()
    for word in set(words):
        found.update(_word_features(word))
    for first, second in itertools.pairwise(words):
        found.add(zlib.crc32(f"b:{first} {second}".encode()) & (DIMENSION - 1))
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    indices = np.fromiter(found, dtype=np.int64, count=len(found))
    values = np.full(len(found), 1.0 / np.sqrt(len(found)), dtype=np.float32)
    return indices, values


@dataclass(frozen=True)
class Model:
    labels: tuple[str, ...]
    weights: np.ndarray  # (labels, DIMENSION) float32
    bias: np.ndarray  # (labels,) float32
    thresholds: np.ndarray  # (labels, 3): the probability for Low, Medium, High
    seed: int

    def probabilities(self, text: str) -> dict[str, float]:
        indices, values = features(text)
        scores = self.bias + (self.weights[:, indices] @ values if len(indices) else 0.0)
        probabilities = 1.0 / (1.0 + np.exp(-scores))
        return {label: float(p) for label, p in zip(self.labels, probabilities, strict=True)}


def save(path: Path, *, labels: tuple[str, ...], weights: np.ndarray, bias: np.ndarray,
         thresholds: np.ndarray, seed: int) -> None:
    np.savez_compressed(path, labels=np.array(labels, dtype=np.str_), weights=weights.astype(np.float32),
                        bias=bias.astype(np.float32), thresholds=thresholds.astype(np.float32),
                        feature_bits=np.array(FEATURE_BITS), seed=np.array(seed))


def load(path: Path = MODEL_PATH) -> Model:
    with np.load(path, allow_pickle=False) as data:
        missing = {"labels", "weights", "bias", "thresholds", "feature_bits", "seed"} - set(data.files)
        if missing:
            raise ValueError(f"{path} is not a prompt intent model (no {', '.join(sorted(missing))})")
        if int(data["feature_bits"]) != FEATURE_BITS:
            raise ValueError(f"{path} was trained with {int(data['feature_bits'])}-bit features, not {FEATURE_BITS}: "
                             "run manage.py train_prompt_topics")
        return Model(labels=tuple(str(x) for x in data["labels"]), weights=data["weights"], bias=data["bias"],
                     thresholds=data["thresholds"], seed=int(data["seed"]))


@functools.lru_cache(maxsize=1)
def shipped() -> Model:
    """The model shipped with the project, loaded once per process."""
    return load(MODEL_PATH)
