"""benchmarks/generalisation_table.py: the mix and leave-one-out comparisons of hand-made background_eval files."""

from __future__ import annotations

import json

import pytest

SCRIPT = "generalisation_table"


def _result(ap50: float, pd_crop: float, met: bool = True) -> dict:
    return {"ap50": ap50, "ap50_95": ap50 / 2, "pd_at_0.25": 0.9, "fa_per_image_targets_at_0.25": 0.3,
            "at_fa_budgets": [{"budget": 0.01, "pd": 0.4, "met": False}, {"budget": 0.1, "pd": 0.7}],
            "background_fa_per_image": {"0.25": 0.05, "0.5": 0.01},
            "at_background_budgets": [{"budget": 0.01, "conf": 0.9, "met": True, "pd": 0.2},
                                      {"budget": 0.1, "conf": 0.35, "met": met, "pd": pd_crop}]}


def _write(tmp_path, targets: str, **models) -> str:
    p = tmp_path / f"{targets}.json"
    p.write_text(json.dumps({"targets": targets, "results": models}))
    return str(p)


def test_mix_and_leave_one_out_pair_the_right_models(script, tmp_path, capsys):
    a = _write(tmp_path, "A", all3=_result(0.70, 0.6), single_A=_result(0.75, 0.65), without_A=_result(0.40, 0.30),
               single_B=_result(0.20, 0.10, met=False))
    b = _write(tmp_path, "B", all3=_result(0.50, 0.5), single_A=_result(0.30, 0.2))  # B: no single_B yet
    out = tmp_path / "out.json"
    assert script.main(["--results", a, b, "--out", str(out)]) == 0
    s = json.loads(out.read_text())
    assert list(s["mix_vs_single"]) == ["A"]
    assert s["mix_vs_single"]["A"]["ap50_all3_minus_single"] == pytest.approx(-0.05)
    unseen = s["leave_one_out"]["A"]
    assert list(unseen["never_saw_it"]) == ["without_A", "single_B"]  # every model A never reached, not all3
    assert unseen["never_saw_it"]["without_A"]["pd_at_0.1_fa_per_crop"] == 0.30
    assert unseen["never_saw_it"]["without_A"]["conf_at_0.1_fa_per_crop"] == 0.35  # the 0.1 budget, not 0.01
    assert unseen["single_A"]["ap50"] == 0.75
    assert unseen["single_A"]["fa_per_frame_at_0.25"] == 0.3 and unseen["single_A"]["frame_budget_met"]
    assert s["missing"] == ["B: all3 and single_B", "B: without_B and single_B"]
    text = capsys.readouterr().out
    assert "| A | single_B | 0.200 | 0.100 | 0.900 | 0.700 | 0.050 | 0.100 (0.350) not met |" in text


def test_the_same_benchmark_twice_is_refused_by_file(script, tmp_path):
    a = _write(tmp_path, "A", all3=_result(0.7, 0.6))
    with pytest.raises(SystemExit, match="A.json: benchmark A is given twice"):
        script.main(["--results", a, a, "--out", str(tmp_path / "o.json")])


def test_a_file_scored_before_the_crop_budgets_is_refused_by_file_and_model(script, tmp_path):
    old = _result(0.7, 0.6)
    del old["at_background_budgets"]
    a = _write(tmp_path, "A", all3=_result(0.7, 0.6), single_A=old)
    with pytest.raises(SystemExit, match="A.json: model single_A: no target-free crop .* score it again"):
        script.main(["--results", a, "--out", str(tmp_path / "o.json")])


def test_threshold_advice_is_the_strictest_benchmarks_confidence_rounded_up(script, tmp_path):
    def at(conf: float, met: bool = True) -> dict:
        r = _result(0.7, 0.6, met)
        r["at_background_budgets"][1]["conf"] = conf
        return r

    a = _write(tmp_path, "A", all3=at(0.213), single_A=at(0.30), without_B=at(0.5, met=False), single_B=at(0.1),
               high=at(0.995))
    b = _write(tmp_path, "B", all3=at(0.4101), single_A=at(0.25), without_B=at(0.2), high=at(0.2))
    out = tmp_path / "out.json"
    script.main(["--results", a, b, "--out", str(out)])
    advice = json.loads(out.read_text())["conf_within_budget_everywhere"]
    # all3: B's 0.4101 decides, rounded up (0.41 would let B exceed its budget); single_A: A's 0.30 exactly;
    # without_B: A's budget is not met at any confidence; single_B: not scored on B; high: rounds up to 1
    assert advice == {"all3": 0.42, "single_A": 0.3, "without_B": None, "single_B": None, "high": None}


def test_advice_is_printed_for_a_model_or_refused_with_the_reason(script, tmp_path, capsys):
    a = _write(tmp_path, "A", all3=_result(0.7, 0.6), single_B=_result(0.2, 0.1))
    b = _write(tmp_path, "B", all3=_result(0.5, 0.5))
    out = tmp_path / "out.json"
    script.main(["--results", a, b, "--out", str(out)])
    capsys.readouterr()
    assert script.main(["--advice", "all3", "--summary", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "0.35"
    assert script.main(["--advice", "single_B", "--summary", str(out)]) == 2
    assert "single_B is scored on A of A, B; its advice needs them all" in capsys.readouterr().err
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"rows": {}}))
    assert script.main(["--advice", "all3", "--summary", str(old)]) == 2
    assert "written before threshold advice" in capsys.readouterr().err
    assert script.main(["--advice", "all3", "--summary", str(tmp_path / "none.json")]) == 2
    assert "none.json: not written yet" in capsys.readouterr().err
