"""covid_ct.ensemble against scikit-learn and XGBoost on their data sets with fresh random
splits: classification_report identical; binary SVC decisions identical; accuracies close
(multi-class SVC is one-vs-rest here, one-vs-one in sklearn; the trees' subsampling RNG
differs)."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC
from xgboost import XGBClassifier

import covid_ct.ensemble as ce


def split(rng, loader):
    X, y = loader(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=int(rng.integers(2**31)))


def test_binary_svc_equals_libsvm(rng):
    xtr, xte, ytr, yte = split(rng, load_breast_cancer)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    for C, gamma in [(1.0, "scale"), (10.0, 0.01)]:
        want = SVC(C=C, gamma=gamma).fit(xtr, ytr).predict(xte)
        got = ce.SVC(C=C, gamma=gamma).fit(xtr, ytr).predict(xte)
        # The same SMO to libsvm's tolerance: the decisions agree but for a sample lying
        # within tol of the margin.
        assert (got != want).sum() <= 1, (C, gamma)


@pytest.mark.parametrize("loader", [load_wine, load_digits], ids=["wine", "digits"])
def test_multiclass_svc_and_trees_reach_the_references_accuracy(rng, loader):
    xtr, xte, ytr, yte = split(rng, loader)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-12
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    labels = np.array(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"])[ytr]  # any labels
    svc = ce.SVC(C=10.0, probability=True, random_state=0).fit(xtr, labels)
    assert list(svc.classes_) == sorted(set(labels))
    p = svc.predict_proba(xte)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    acc = np.mean(svc.predict(xte) == np.array(svc.classes_)[yte])
    ref = SVC(C=10.0).fit(xtr, ytr).score(xte, yte)
    assert acc >= ref - 0.03, (acc, ref)
    trees = ce.XGBClassifier(n_estimators=50, max_depth=4).fit(xtr, ytr)
    ref = XGBClassifier(n_estimators=50, max_depth=4, tree_method="hist", n_jobs=1).fit(xtr, ytr).score(xte, yte)
    assert trees.score(xte, yte) >= ref - 0.03, (trees.score(xte, yte), ref)


def test_classification_report_equals_sklearn(rng):
    for k in (2, 3, 5):
        t = rng.integers(0, k, 60)
        p = np.where(rng.random(60) < 0.7, t, rng.integers(0, k, 60))
        names = [f"class {i}" for i in range(k)]
        for kwargs in ({}, {"digits": 4}, {"target_names": names}, {"labels": list(range(k - 1))}):
            assert ce.classification_report(t, p, **kwargs) == classification_report(t, p, **kwargs), kwargs
        got = ce.classification_report(t, p, output_dict=True)
        want = classification_report(t, p, output_dict=True)
        assert got.keys() == want.keys()
        for key in want:
            if isinstance(want[key], dict):
                for m in want[key]:
                    assert got[key][m] == pytest.approx(want[key][m], abs=1e-12), (key, m)
            else:
                assert got[key] == pytest.approx(want[key], abs=1e-12)
    # String labels, and a class never predicted (zero_division=0).
    t = np.array(["Normal", "CAP", "COVID-19", "CAP", "Normal"])
    p = np.array(["Normal", "Normal", "COVID-19", "Normal", "Normal"])
    assert ce.classification_report(t, p, zero_division=0) == classification_report(t, p, zero_division=0)


def test_bad_input_names_the_argument():
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="y"):
        ce.SVC().fit(x, [0, 0, 0, 0])
    with pytest.raises(ValueError, match="X"):
        ce.SVC().fit(np.full((4, 2), np.nan), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="kernel"):
        ce.SVC(kernel="linear")
    with pytest.raises(AttributeError):
        ce.SVC().fit(np.eye(4), [0, 1, 0, 1]).predict_proba(np.eye(4))
    with pytest.raises(ValueError, match="fitted"):
        ce.XGBClassifier().predict(x)
    with pytest.raises(ValueError, match="features"):
        ce.XGBClassifier(n_estimators=2).fit(np.eye(4), [0, 1, 0, 1]).predict(np.eye(3))
