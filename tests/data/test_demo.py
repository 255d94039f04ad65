"""The demo generator: two ranks generating into one folder keep the first."""

from __future__ import annotations


def test_demo_generated_twice_into_one_folder_keeps_the_first(tmp_path):
    """Two DDP ranks generating the demo set at once: the second rename must not fail."""
    from fscfnet.data.demo import generate_demo

    def files() -> dict[str, bytes]:
        return {str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}

    generate_demo(tmp_path / "demo", n_train=2, n_test=1)
    first = files()
    generate_demo(tmp_path / "demo", seed=1, n_train=2, n_test=1)  # other frames: a replacement would show
    assert files() == first
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary folder left behind
