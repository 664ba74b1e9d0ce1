"""Classification metrics in the project's ``metrics.json`` shape:
{"split", "accuracy" (0..1), "correct", "total", "confusion_matrix", "predictions": [{"sequence", "label", "predicted"}]}.
"""
from __future__ import annotations

from typing import Sequence


def classification_metrics(split: str, labels: Sequence[int], predicted: Sequence[int], names: Sequence[str],
                           num_classes: int, classes: Sequence[str] | None = None, **extra) -> dict:
    labels, predicted = [int(v) for v in labels], [int(v) for v in predicted]
    confusion = [[0] * num_classes for _ in range(num_classes)]  # rows: true label, columns: predicted
    for true, guess in zip(labels, predicted):
        confusion[true][guess] += 1
    correct = sum(t == p for t, p in zip(labels, predicted))
    total = len(labels)
    out = {"split": split, "accuracy": correct / total if total else 0.0, "correct": correct, "total": total,
           "confusion_matrix": confusion,
           "predictions": [{"sequence": n, "label": t, "predicted": p} for n, t, p in zip(names, labels, predicted)]}
    if classes is not None:
        out["classes"] = list(classes)
    out.update(extra)
    return out


def format_metrics(m: dict) -> str:
    return f"{m['split']}: {m['correct']}/{m['total']} = {100 * m['accuracy']:.2f} %"
