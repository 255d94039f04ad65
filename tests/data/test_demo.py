"""The demo generator: two ranks generating into one folder keep the first."""

from __future__ import annotations


def test_demo_generated_twice_into_one_folder_keeps_the_first(tmp_path):
    """Two DDP ranks generating the demo set at once: the second rename must not fail."""
    from fscfnet.data.demo import generate_demo

    generate_demo(tmp_path / "demo", n_train=2, n_test=1)
    before = sorted(p.name for p in (tmp_path / "demo" / "images").iterdir())
    generate_demo(tmp_path / "demo", n_train=2, n_test=1)
    assert sorted(p.name for p in (tmp_path / "demo" / "images").iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary folder left behind
