"""``manage.py train_prompt_topics``: train the prompt intent classifier from the project's own
corpus (``shadow_ai/prompts/corpus.py``), print per-intent precision and recall on the held-out
frames, and write the weights (``shadow_ai/prompts/data/prompt_intents.npz``), the metrics and
the held-out split next to them. Same seed, same weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from shadow_ai.prompts import classifier, training

DATA = classifier.MODEL_PATH.parent


class Command(BaseCommand):
    help = "Train the prompt intent classifier and print its held-out precision and recall."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=15, help="Corpus expansion and split seed (default 15).")
        parser.add_argument("--output", type=Path, default=classifier.MODEL_PATH,
                            help="Where to write the weights (default: the shipped model).")
        parser.add_argument("--dry-run", action="store_true", help="Train and report, write nothing.")

    def handle(self, *args: Any, seed: int, output: Path, dry_run: bool, **options: Any) -> None:
        model, train_set, held_out = training.train(seed)
        self.stdout.write(f"Trained on {len(train_set)} prompts; held out {len(held_out)} prompts "
                          f"(whole frames never seen in training), seed {seed}.")
        scores = training.evaluate(model, held_out)
        self.stdout.write(f"{'intent':<16} {'level':<7} {'precision':>9} {'recall':>7} {'positives':>9} {'flagged':>8}")
        for s in scores:
            self.stdout.write(f"{s.label:<16} {s.level:<7} {s.precision:>9.3f} {s.recall:>7.3f} {s.support:>9} "
                              f"{s.flagged:>8}")
        if dry_run:
            return
        classifier.save(output, labels=model.labels, weights=model.weights, bias=model.bias,
                        thresholds=model.thresholds, seed=seed)
        metrics = {"seed": seed, "training_prompts": len(train_set), "held_out_prompts": len(held_out),
                   "held_out": [{"intent": s.label, "level": s.level, "precision": round(s.precision, 4),
                                 "recall": round(s.recall, 4), "positives": s.support, "flagged": s.flagged}
                                for s in scores]}
        (output.parent / "prompt_intents_metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        with (output.parent / "prompt_intents_heldout.jsonl").open("w") as f:
            for example in held_out:
                f.write(json.dumps({"text": example.text, "labels": list(example.labels),
                                    "frame": example.frame}) + "\n")
        classifier.shipped.cache_clear()
        self.stdout.write(self.style.SUCCESS(f"Wrote {output}."))
