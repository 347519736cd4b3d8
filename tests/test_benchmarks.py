"""The GPU benchmark's smoke mode runs on a CPU, so CI keeps the script working."""

import importlib.util
import json
import pathlib

import keras

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gpu_benchmark_smoke_mode_writes_every_row(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "benchmarks" / "gpu.py")
    gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu)
    policy = keras.config.dtype_policy().name
    rows = gpu.main(["--smoke", "--out", str(tmp_path)])
    assert keras.config.dtype_policy().name == policy  # mixed_float16 was only borrowed
    labels = [r["row"] for r in rows]
    for part in ("float32", "top_k=5", "serving_default", "occlusion", "mixed_float16", "ViT"):
        assert any(part in label for label in labels), (part, labels)
    hub = importlib.util.find_spec("keras_hub") is not None
    for r in rows:
        if not hub and r["row"].startswith("ViT"):  # the oldest-versions venv has no KerasHub
            assert "keras-hub not installed" in r["error"], r
            continue
        assert "error" not in r, r
        assert r["images_per_s"] > 0 and r["forward_images_per_s"] > 0 and r["ratio"] > 0
    saved = json.loads((tmp_path / "gpu-smoke.json").read_text())
    assert saved["meta"]["smoke"] and len(saved["rows"]) == len(rows)
    assert "| tiny CNN Grad-CAM float32 |" in (tmp_path / "gpu-smoke.md").read_text()
