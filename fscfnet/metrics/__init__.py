"""Detection metrics (docs/design.md §6) and ``python -m fscfnet.metrics`` for any detector's COCO-format results."""

from .detection import (
                        AP_FLOOR,
                        DEFAULT_CONF,
                        DEFINITIONS,
                        PDFA_THRESHOLDS,
                        FaBudget,
                        fa_budgets,
                        Metrics,
                        OperatingPoint,
                        budget_point,
                        class_agnostic,
                        evaluate,
                        format_table,
                        operating_point,
                        pdfa_curve,
)

__all__ = ["AP_FLOOR", "DEFAULT_CONF", "DEFINITIONS", "PDFA_THRESHOLDS", "FaBudget", "Metrics", "OperatingPoint", "budget_point", "class_agnostic", "evaluate", "fa_budgets",
           "format_table", "operating_point", "pdfa_curve"]
