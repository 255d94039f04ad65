"""Provenance records the command as it was typed, so that it can be rerun."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from fscfnet.utils.provenance import command_line


def test_command_line_for_each_way_of_starting_a_job():
    assert command_line(["/v/bin/python3.11", "-m", "fscfnet.experiments", "--models", "yolov10n", "fscfnet",
                         "--name", "a b"]) == "python3.11 -m fscfnet.experiments --models yolov10n fscfnet --name 'a b'"
    assert command_line(["/v/bin/python", "/v/bin/fscfnet", "bench", "--imgsz", "320"]) == "fscfnet bench --imgsz 320"
    assert command_line(["python", "benchmarks/early_epochs.py", "--out", "x.json"]) == \
        "python benchmarks/early_epochs.py --out x.json"
    assert command_line(["/usr/bin/python", "train.py"]) == "python train.py"


def test_provenance_records_the_interpreters_own_arguments(repo):
    code = "from fscfnet.utils.provenance import provenance; print(provenance()['command'])"
    out = subprocess.run([sys.executable, "-c", code, "--flag", "two words"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert shlex.split(out) == [Path(sys.executable).name, "-c", code, "--flag", "two words"]
