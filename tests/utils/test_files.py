"""Atomic writes keep the previous file when writing fails."""

import json
import os
import stat

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


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_and_built_folders_follow_the_umask(tmp_path, umask):
    from fscfnet.data.demo import generate_demo
    old = os.umask(umask)
    try:
        f = write_json(tmp_path / "m.json", {"a": 1})
        generate_demo(tmp_path / "demo", n_train=2, n_test=1)
    finally:
        os.umask(old)
    assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert stat.S_IMODE((tmp_path / "demo").stat().st_mode) == 0o777 & ~umask  # not mkdtemp's 0700
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "m.json"]  # no temporaries left
    f.chmod(0o640)
    assert stat.S_IMODE(write_json(f, {"a": 2}).stat().st_mode) == 0o640  # a rewrite keeps the file's own mode
