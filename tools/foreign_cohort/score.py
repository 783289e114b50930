#!/usr/bin/env python3
"""Accuracy of `predict`'s predictions.csv on a class tree (the class is the scan's parent
folder: healthy, pneumonia, covid19), overall and per class, with the confusion matrix.

    python tools/foreign_cohort/score.py runs/predict-foreign/predictions.csv
"""

import csv
import pathlib
import sys

TRUE = {"healthy": "Normal", "pneumonia": "CAP", "covid19": "COVID-19"}
LABELS = ["Normal", "CAP", "COVID-19"]


def main():
    rows = list(csv.DictReader(open(sys.argv[1], newline="")))
    cm = {t: {p: 0 for p in LABELS} for t in LABELS}
    failed = 0
    for r in rows:
        if r["error"]:
            failed += 1
            continue
        truth = TRUE[pathlib.Path(r["scan"]).parent.name]
        cm[truth][r["label"]] += 1
    n = sum(sum(v.values()) for v in cm.values())
    right = sum(cm[t][t] for t in LABELS)
    print(f"accuracy={right / max(n, 1):.4f} ({right}/{n}; {failed} failed)")
    print("true \\ predicted " + " ".join(f"{p:>9}" for p in LABELS))
    for t in LABELS:
        print(f"{t:>17} " + " ".join(f"{cm[t][p]:>9}" for p in LABELS))


if __name__ == "__main__":
    main()
