"""Mosaic on and off by epoch (close_mosaic)."""

from __future__ import annotations

import pytest

from fscfnet.cfg.data import load_data_config
from fscfnet.cfg.train import load_train_config
from fscfnet.data.dataset import IRSTDDataset

# mosaic only: no scale, shift, flip or photometric change, so a non-mosaic sample is the plain letterbox
MOSAIC_ONLY = {"mosaic": 1.0, "translate": 0.0, "scale": 0.0, "fliplr": 0.0, "flipud": 0.0, "brightness": 0.0,
               "contrast": 0.0, "gamma": 0.0}


@pytest.fixture(scope="module")
def one_batch(make_demo, tmp_path_factory):
    """8 training images (one batch of 8: one iteration per epoch) and 4 test images."""
    return make_demo(8, 4)


# ---------------------------------------------------------------------------------------------------- 6. close_mosaic
def test_mosaic_on_respects_mosaic_until(one_batch):
    """mosaic_on(e): augmenting with mosaic > 0 and e < mosaic_until (None: always)."""
    data = load_data_config(str(one_batch))
    aug = load_train_config({"augment": MOSAIC_ONLY}).augment_config()
    ds = IRSTDDataset(data, "train", 64, aug, log=lambda s: None)
    assert [ds.mosaic_on(e) for e in range(4)] == [True] * 4
    ds.mosaic_until = 2
    assert [ds.mosaic_on(e) for e in range(4)] == [True, True, False, False]
    ds.mosaic_until = 0
    assert not ds.mosaic_on(0)
    no_mosaic = IRSTDDataset(data, "train", 64, load_train_config({"augment": {"mosaic": 0.0}}).augment_config(),
                             log=lambda s: None)
    assert not no_mosaic.mosaic_on(0)
    assert not IRSTDDataset(data, "test", 64, None, log=lambda s: None).mosaic_on(0)
