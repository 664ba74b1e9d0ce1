from training_utils.metrics import classification_metrics, format_metrics


def test_metrics_name_the_part_and_count_a_confusion_matrix():
    m = classification_metrics("test", [0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c", "d"], 3)
    assert m["part"] == "test" and "split" not in m
    assert (m["correct"], m["total"], m["accuracy"]) == (3, 4, 0.75)
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    assert m["predictions"][2] == {"sequence": "c", "label": 1, "predicted": 2}
    assert format_metrics(m) == "test: 3/4 = 75.00 %"


def test_a_metrics_file_written_before_the_rename_still_formats():
    old = {"split": "val", "correct": 1, "total": 3, "accuracy": 1 / 3}
    assert format_metrics(old) == "val: 1/3 = 33.33 %"
