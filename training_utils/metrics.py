"""Classification metrics in the project's ``metrics.json`` shape:
{"part", "accuracy" (0..1), "correct", "total", "confusion_matrix", "predictions": [{"sequence", "label", "predicted"}]}.
``part`` is the dataset part the clips came from (train, val, test, all) or the tool's name for its group of
clips; metrics.json files written before the rename call it "split".
"""
from __future__ import annotations

from typing import Sequence


def classification_metrics(part: str, labels: Sequence[int], predicted: Sequence[int], names: Sequence[str],
                           num_classes: int, classes: Sequence[str] | None = None, **extra) -> dict:
    labels, predicted = [int(v) for v in labels], [int(v) for v in predicted]
    confusion = [[0] * num_classes for _ in range(num_classes)]  # rows: true label, columns: predicted
    for true, guess in zip(labels, predicted):
        confusion[true][guess] += 1
    correct = sum(t == p for t, p in zip(labels, predicted))
    total = len(labels)
    out = {"part": part, "accuracy": correct / total if total else 0.0, "correct": correct, "total": total,
           "confusion_matrix": confusion,
           "predictions": [{"sequence": n, "label": t, "predicted": p} for n, t, p in zip(names, labels, predicted)]}
    if classes is not None:
        out["classes"] = list(classes)
    out.update(extra)
    return out


def format_metrics(m: dict) -> str:
    part = m["part"] if "part" in m else m["split"]  # a metrics.json written before the rename
    return f"{part}: {m['correct']}/{m['total']} = {100 * m['accuracy']:.2f} %"
