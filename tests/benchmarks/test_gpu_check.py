"""benchmarks/gpu_check.py's stage runner: one deadline, every stage reported (done, failed, skipped for time),
SystemExit in a stage recorded and the next stage run; a hung child stopped at its timeout; /dev/shm sizing."""

from __future__ import annotations

import json
import sys
import time

SCRIPT = "gpu_check"


def test_every_stage_is_reported_and_a_failure_or_the_deadline_stops_only_its_own_stage(script, tmp_path):
    g = script
    report = g.Report(tmp_path)
    ran = []

    def train(budget):
        ran.append("train")
        raise SystemExit("boom")  # escapes `except Exception`; must not end the run

    def validate(budget):
        ran.append("validate")
        return {"budget": budget}

    def latency(budget):
        ran.append("latency")
        time.sleep(1.2)  # leaves the last stage less than its floor
        return {}

    reserve = {"validate": 0.0, "latency": 0.0, "cuda_tests": 0.0}
    stages = {"train": train, "validate": validate, "latency": latency, "cuda_tests": lambda b: ran.append("tests")}
    g.run_stages(stages, time.time() + 2.0, reserve, report, min_s=1.0)
    data = json.loads((tmp_path / "gpu_check.json").read_text())
    assert ran == ["train", "validate", "latency"]
    assert data["train"]["error"] == "SystemExit: boom"
    assert 1.0 < data["validate"]["budget"] <= 2.0  # what was left of the one deadline
    assert "no time left" in data["cuda_tests"]["skipped"]


def test_a_planted_failure_is_recorded_and_the_later_stages_run(script, tmp_path):
    g = script
    report = g.Report(tmp_path)
    stages = {name: (lambda b, n=name: {"ran": n}) for name in g.STAGES}
    g.run_stages(stages, time.time() + 60, {s: 0.0 for s in g.STAGES}, report, fail="validate")
    data = json.loads((tmp_path / "gpu_check.json").read_text())
    assert "planted failure" in data["validate"]["error"]
    assert [data[s].get("ran") for s in ("train", "latency", "cuda_tests")] == ["train", "latency", "cuda_tests"]


def test_a_hung_child_is_stopped_at_its_timeout(script):
    g = script
    t0 = time.time()
    r = g.run_child([sys.executable, "-c", "import time; time.sleep(60)"], timeout=1.0)
    assert r["timed_out"] and r["exit"] != 0 and time.time() - t0 < 15


def test_workers_are_lowered_to_what_dev_shm_holds(script, monkeypatch):
    g = script

    class Usage:
        total, free = 64 << 20, 64 << 20  # a container's default 64 MiB /dev/shm

    monkeypatch.setattr(g.shutil, "disk_usage", lambda path: Usage)
    workers, info = g.shm_workers(16, 2)
    assert info["workers_by_cpu"] == 7 and workers == 0  # 64 MiB holds no 640-px worker's batches
    Usage.free = Usage.total = 8 << 30
    assert g.shm_workers(16, 2)[0] == 7
