"""False alarms by site: a hand-made frame's, and their total against validation's count on random splits."""

from __future__ import annotations

import numpy as np

from fscfnet.metrics import class_agnostic, evaluate, operating_point
from fscfnet.metrics.sites import false_alarm_sites, sites_of, tally_sites

from .test_metrics import _random_split


def test_false_alarms_are_sited_on_beside_or_away_from_the_target():
    target = np.array([[1, 10, 10, 20, 20]], float)  # a bird
    pred = np.array([[10, 10, 20, 20, 0.9, 0],      # the target, called a drone: found whatever the class
                     [12, 12, 22, 22, 0.8, 1],      # a second box on it (IoU 0.47 with it)
                     [40, 10, 50, 20, 0.7, 1],      # 20 px to its right
                     [80, 80, 90, 90, 0.6, 0],      # 60 px away
                     [60, 60, 70, 70, 0.1, 0]], float)  # under the confidence: not counted
    assert false_alarm_sites(pred, target, conf=0.25) == ["on_target", "near_target", "background"]
    assert false_alarm_sites(pred, target, conf=0.25, near=10) == ["on_target", "background", "background"]
    assert false_alarm_sites(pred, np.zeros((0, 5)), conf=0.25) == ["background"] * 4
    t = tally_sites([["on_target", "background"], [], ["background"]])
    assert t["counts"] == {"on_target": 1, "near_target": 0, "background": 2} and t["per_frame"]["background"] == 2 / 3


def test_the_sites_add_up_to_the_false_alarms_validation_counts():
    for seed in range(3):
        preds, targets, sizes = _random_split(np.random.default_rng(seed), 40, 3)
        for conf in (0.1, 0.25, 0.6):
            point = operating_point(evaluate(class_agnostic(preds, 5), class_agnostic(targets, 0), sizes).curves, conf)
            assert sites_of(preds, targets, conf)["false_alarms"] == point.false_alarms, (seed, conf)
