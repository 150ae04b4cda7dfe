"""Training the intent classifier (``manage.py train_prompt_topics``): one L2-regularised logistic
regression per intent over the hashed features of ``classifier``, fitted by full-batch gradient
descent (Adam) in numpy. Deterministic: the corpus expansion and the split use the seed, the
weights start at zero and the updates have no randomness, so the same seed gives the same
weights on any machine with the same numpy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shadow_ai.prompts import classifier, corpus, topics
from shadow_ai.prompts.normalize import normalize

# The probability at which an intent is reported Low, Medium and High.
THRESHOLDS = (0.35, 0.6, 0.85)
LEVELS = ("low", "medium", "high")


@dataclass(frozen=True)
class Scores:
    label: str
    level: str
    precision: float
    recall: float
    support: int  # positives in the held-out set
    flagged: int  # held-out prompts flagged at this level


def _matrix(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols, vals = [], [], []
    for row, text in enumerate(texts):
        indices, values = classifier.features(normalize(text).scored)
        rows.append(np.full(len(indices), row, dtype=np.int64))
        cols.append(indices)
        vals.append(values)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _targets(examples: Sequence[corpus.Example]) -> np.ndarray:
    return np.array([[1.0 if label in e.labels else 0.0 for label in corpus.LABELS] for e in examples])


def fit(examples: Sequence[corpus.Example], *, epochs: int = 400, rate: float = 0.05,
        l2: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """(weights, bias) for ``corpus.LABELS``."""
    rows, cols, vals = _matrix([e.text for e in examples])
    y = _targets(examples)
    n, k = y.shape
    weights = np.zeros((k, classifier.DIMENSION))
    bias = np.zeros(k)
    m_w, v_w = np.zeros_like(weights), np.zeros_like(weights)
    m_b, v_b = np.zeros(k), np.zeros(k)
    used = np.unique(cols)
    for step in range(1, epochs + 1):
        scores = np.stack([np.bincount(rows, weights=vals * weights[j, cols], minlength=n) for j in range(k)], 1)
        error = 1.0 / (1.0 + np.exp(-(scores + bias))) - y  # (n, k)
        grad_w = np.zeros_like(weights)
        for j in range(k):
            grad_w[j] = np.bincount(cols, weights=vals * error[rows, j], minlength=classifier.DIMENSION) / n
        grad_w[:, used] += l2 * weights[:, used]
        grad_b = error.mean(0)
        for param, grad, m, v in ((weights, grad_w, m_w, v_w), (bias, grad_b, m_b, v_b)):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= rate * (m / (1 - 0.9 ** step)) / (np.sqrt(v / (1 - 0.999 ** step)) + 1e-8)
    return weights.astype(np.float32), bias.astype(np.float32)


def evaluate(model: classifier.Model, examples: Sequence[corpus.Example]) -> list[Scores]:
    """Precision and recall per intent and per confidence level over ``examples``, through the
    whole intent path (normalisation, classifier and phrase rules) with ``model``."""
    found = [topics.intent_levels(normalize(e.text).scored, model) for e in examples]
    results = []
    for label in model.labels:
        truth = [label in e.labels for e in examples]
        for rank, level in enumerate(LEVELS):
            flagged = [label in f and f[label].confidence.rank >= rank for f in found]
            hits = sum(1 for f, t in zip(flagged, truth, strict=True) if f and t)
            results.append(Scores(
                label=label, level=level, precision=hits / sum(flagged) if any(flagged) else 1.0,
                recall=hits / sum(truth) if any(truth) else 1.0, support=sum(truth), flagged=sum(flagged),
            ))
    return results


def train(seed: int = 15) -> tuple[classifier.Model, list[corpus.Example], list[corpus.Example]]:
    """The model trained on the training side of the seeded split, and both sides."""
    training, held_out = corpus.split(corpus.build(seed), seed=seed)
    weights, bias = fit(training)
    thresholds = np.array([THRESHOLDS] * len(corpus.LABELS), dtype=np.float32)
    model = classifier.Model(labels=corpus.LABELS, weights=weights, bias=bias, thresholds=thresholds, seed=seed)
    return model, training, held_out
