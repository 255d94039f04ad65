"""Convert an upstream IRSTD dataset (masks, Pascal VOC or COCO annotations) to the project's layout:
``python -m fscfnet.data.prepare SRC --dst datasets/NAME`` (:mod:`.cli`, :mod:`.run`), one class per format
(:mod:`.formats`), the upstream split files (:mod:`.splits`), downloads (:mod:`.download`)."""

from .cli import main
from .download import download_dataset
from .formats import FORMATS, UpstreamSource, find_source
from .run import LABEL_FORMATS, format_summary, prepare

__all__ = ["FORMATS", "LABEL_FORMATS", "UpstreamSource", "download_dataset", "find_source", "format_summary", "main",
           "prepare"]
