"""Model summary: layer table, parameter totals, and FLOPs that include attention matmuls."""

from __future__ import annotations

import subprocess
import sys

import torch

from fscfnet import build_model
from fscfnet.cfg import MODELS_DIR
from fscfnet.nn.aca import ACA
from fscfnet.nn.summary import count_gflops, format_summary, main, summarize


def test_flops_count_attention_matmuls():
    c, h, size = 16, 8, 12  # ACA(16): hidden 8, two input channels per group
    m = ACA(c)
    hw = size * size
    macs = (h * hw * 2 * 3) * 2 + h * hw * 2 * 9  # q (1x3), k (3x1), v (3x3) grouped convs
    macs += 2 * h * size * size * size  # scores (H x W @ W x H) and attn @ v (H x H @ H x W), per channel
    macs += c * hw * 3 * h  # 1x1 output conv
    assert count_gflops(m, size, c, train=False) * 1e9 == 2 * macs


def test_summary_rows_and_totals_match_the_model():
    model = build_model(MODELS_DIR / "fscfnet.yaml", nc=1)
    s = summarize(model, imgsz=320)
    assert len(s.rows) == 24 and s.rows[3][4] == "ConvACA" and s.rows[12][1] == "[-1, 6]"
    assert sum(r[3] for r in s.rows) == s.train.params == sum(p.numel() for p in model.parameters())
    assert s.fused.params < s.train.params and s.fused.gflops < s.train.gflops
    # FLOPs scale with pixels: 640 has 4x the pixels of 320
    assert abs(count_gflops(model, 640, 3, train=False) / count_gflops(model, 320, 3, train=False) - 4) < 0.05
    text = format_summary(s)
    assert "training graph:  2,869,002 parameters" in text
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # summarizing did not fuse the model


def test_cli_prints_table_and_rejects_bad_input(repo, capsys, tmp_path):
    assert main([str(MODELS_DIR / "yolov10n.yaml"), "--nc", "1", "--imgsz", "320"]) == 0
    out = capsys.readouterr().out
    assert "V10Detect" in out and "fused inference: 2,265,347 parameters" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("nc: 1\nbackbone:\n  - [-1, 1, Cnov, [16, 3, 2]]\nhead: []\n")
    proc = subprocess.run([sys.executable, "-m", "fscfnet.nn.summary", str(bad)], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "did you mean 'Conv'?" in proc.stderr
    assert main([str(MODELS_DIR / "yolov10n.yaml"), "--imgsz", "100"]) == 2
