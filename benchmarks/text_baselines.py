"""Bag-of-words baseline of the built-in text tasks, on exactly the splits and label subsets the sweeps use.

TF-IDF of word uni- and bigrams + logistic regression (scikit-learn), trained on
the same class-stratified ``fraction``/``seed`` label subsets as ``sslkit
label-efficiency`` (``TextClassificationDataModule.labelled_indices``) and, for
the domain matrix, on each source domain and scored on every target domain.
Writes ``benchmarks/results/text_bow_label_efficiency.{csv,md}`` and
``text_bow_cross_domain.{csv,md}``::

    python benchmarks/text_baselines.py            # ~1 min on a 2-core CPU
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sslkit.data.text import TextClassificationDataModule
from sslkit.transfer.cross_domain import matrix_markdown
from sslkit.transfer.label_efficiency import markdown_table, write_csv

#: the (task, domain) pairs of the label-efficiency recipes (recipes/transfer/text/label_efficiency_*.yaml)
TASKS = (("package", "stdlib"), ("kind", "scientific"), ("section", "deep_learning"))
DOMAINS = ("stdlib", "scientific", "deep_learning")  # the domain matrix (task kind)


def bow_classifier(seed: int):
    """TF-IDF (word 1-2 grams, sublinear tf) + multinomial logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                         LogisticRegression(C=10.0, max_iter=2000, random_state=seed))


def split_texts(dm: TextClassificationDataModule, split: str) -> tuple[list[str], np.ndarray]:
    texts, labels = dm.task()[0][split]
    return list(texts), np.asarray(labels)


def label_efficiency(fractions: list[float], seeds: list[int]) -> list[dict]:
    rows = []
    for task, domain in TASKS:
        dm = TextClassificationDataModule(task=task, domain=domain)
        (xtr, ytr), (xte, yte) = split_texts(dm, "train"), split_texts(dm, "test")
        for fraction in fractions:
            for seed in seeds:
                idx = dm.labelled_indices(fraction, seed)
                clf = bow_classifier(seed).fit([xtr[i] for i in idx], ytr[idx])
                rows.append({"backbone": f"bag_of_words ({task})", "strategy": "tfidf_logistic", "fraction": fraction,
                             "seed": seed, "n_train": len(idx), "acc": float(clf.score(xte, yte))})
    return rows


def cross_domain(label_fraction: float = 1.0, seed: int = 0) -> tuple[list[dict], dict[str, dict[str, float]]]:
    dms = {d: TextClassificationDataModule(task="kind", domain=d) for d in DOMAINS}
    matrix: dict[str, dict[str, float]] = {}
    for s, dm in dms.items():
        xtr, ytr = split_texts(dm, "train")
        idx = dm.labelled_indices(label_fraction, seed)
        clf = bow_classifier(seed).fit([xtr[i] for i in idx], ytr[idx])
        matrix[s] = {t: float(clf.score(*split_texts(dt, "test"))) for t, dt in dms.items()}
    rows = [{"backbone": "bag_of_words", "strategy": "tfidf_logistic", "source": s, "target": t, "acc": a}
            for s, row in matrix.items() for t, a in row.items()]
    return rows, matrix


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.25, 1.0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = label_efficiency(args.fractions, args.seeds)
    write_csv(rows, out / "text_bow_label_efficiency.csv")
    (out / "text_bow_label_efficiency.md").write_text(markdown_table(rows) + "\n")
    print(markdown_table(rows))
    rows, matrix = cross_domain()
    write_csv(rows, out / "text_bow_cross_domain.csv")
    avg = np.mean([a for row in matrix.values() for a in row.values()])
    text = matrix_markdown(matrix, "bag_of_words / tfidf_logistic (task kind)") + f"\n\nMatrix average: {100 * avg:.1f}%"
    (out / "text_bow_cross_domain.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
