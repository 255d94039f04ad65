"""A scored split: the detections of every image with their targets, the metrics over them, and, with several
classes or ``--by``, the class-level results; ``val`` and ``python -m fscfnet.metrics`` both score this way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .confusion import confusion_matrix
from .detection import FaBudget, Metrics, budget_point, class_agnostic, evaluate, format_table, operating_point
from .groups import breakdown, format_rows


@dataclass
class ScoredSplit:
    metrics: Metrics
    predictions: list[np.ndarray]  # per image (n, 6): x1, y1, x2, y2, score, class in original pixels
    stems: list[str]
    targets: list[np.ndarray] = field(default_factory=list, repr=False)  # per image (m, 5): class, x1, y1, x2, y2
    sizes: list[tuple[int, int]] = field(default_factory=list, repr=False)
    names: list[str] = field(default_factory=list)
    agnostic: Metrics | None = None  # several classes: the same metrics with every class merged (a target found
    #   under another class counts as found)
    confusion: np.ndarray | None = None  # (nc + 1, nc + 1) at the at_conf threshold (.confusion)
    by: dict[str, list[dict]] = field(default_factory=dict)  # --by ATTR: a row per attribute value

    def score(self, at_conf: float, fa_budgets: Sequence[FaBudget] = (),
              attributes: dict[str, dict[str, str]] | None = None, by: Sequence[str] = ()) -> None:
        """Fill in the operating points (``at_conf`` and each budget), with several classes the same with the
        classes merged, the confusion matrix at ``at_conf`` and, for each attribute of ``by`` (columns of
        ``attributes``: image stem -> its frames.csv row), a row per value."""
        nc = len(self.names)
        self.metrics.at_conf = operating_point(self.metrics.curves, at_conf)
        self.metrics.at_budgets = [(b, budget_point(self.metrics.curves, b)) for b in fa_budgets]
        if nc > 1:
            self.agnostic = evaluate(class_agnostic(self.predictions, 5), class_agnostic(self.targets, 0), self.sizes)
            self.agnostic.at_conf = operating_point(self.agnostic.curves, at_conf)
            self.agnostic.at_budgets = [(b, budget_point(self.agnostic.curves, b)) for b in fa_budgets]
        self.confusion = confusion_matrix(self.predictions, self.targets, nc, at_conf)
        if by:
            found = self.agnostic or self.metrics
            thresholds = {f"@{at_conf:g}": at_conf, **{str(b): p.conf for b, p in found.at_budgets}}
            confusion = (nc, at_conf) if nc > 1 else None
            self.by = {a: breakdown(self.predictions, self.targets, self.sizes, self.stems, attributes or {}, a,
                                    thresholds, confusion) for a in by}

    def class_name(self, c: int) -> str:
        return self.names[c] if c < len(self.names) else str(c)

    def as_dict(self, run: dict | None = None) -> dict:
        """The keys of ``metrics.json`` (docs/design.md §7): the metrics, then ``run`` (what the run records:
        time per image, inference mode), ``at_conf`` when the operating point was evaluated, and the class-level
        results where there are any."""
        d = self.metrics.as_dict()
        at_conf = d.pop("at_conf", None)
        for row in d["per_class"]:
            row["name"] = self.class_name(row["class"])
        extra = {"class_agnostic": self.agnostic.as_dict()} if self.agnostic is not None else {}
        if self.confusion is not None:
            extra["confusion_matrix"] = {"rows": "predicted class, then background", "columns": "true class, then "
                                         "background", "names": [*self.names, "background"],
                                         "counts": self.confusion.tolist()}
        if self.by:
            extra["by"] = self.by
        return {**d, **(run or {}), **({"at_conf": at_conf} if at_conf is not None else {}), **extra}

    def tables(self) -> str:
        """The per-class and any-class tables (several classes) and each ``--by`` breakdown, as printed text."""
        parts = []
        if self.agnostic is not None:
            rows = [{"class": self.class_name(r["class"]), "targets": r["targets"], "P": r["precision"],
                     "R": r["recall"], "AP50": r["ap50"], "AP50:95": r["ap50_95"]} for r in self.metrics.per_class]
            parts.append(f"per class (P and R at the max-F1 threshold):\n{format_rows(rows)}")
            parts.append("any class (a target found under another class counts as found):\n"
                         + format_table(self.agnostic).rsplit("\n", 1)[0])
        for attr, rows in self.by.items():
            parts.append(f"by {attr} (AP class-aware; Pd and FA/img of any class at the whole split's thresholds):\n"
                         f"{format_rows(rows)}")
        return "\n".join(parts)
