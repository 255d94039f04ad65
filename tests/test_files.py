"""Atomic writes keep the previous file when writing fails."""

import json

import pytest

from fscfnet.utils.files import atomic_write, write_json


def test_failed_write_leaves_previous_file_and_no_temporary(tmp_path):
    target = write_json(tmp_path / "m.json", {"a": 1})

    def crash(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
    write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
