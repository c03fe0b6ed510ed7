"""Round galleries as an inspector reads them: source images at a visible size, a heat map only where
it means something, rounds numbered as the log counts them, each picture stored once (real loop, real
MLflow store)."""
import numpy as np
import pytest
import torch
from conftest import loop_settings, plain_classifier, strategy, train_settings
from mlflow.tracking import MlflowClient
from PIL import Image

from alflow.data import KFold
from alflow.data.decode import decode_image
from alflow.explain.gallery import DISPLAY_SIZE, display_images, gallery_legend, save_gallery
from alflow.loop import AcquisitionLoop
from alflow.tracking import MlflowRun


def test_pictures_come_from_the_source_files_at_the_display_size(tmp_path):
    rng = np.random.default_rng(0)
    files = []
    for i in range(2):  # 300 x 300 "cells" with a one-pixel scratch: gone at 48 px, visible at 192
        a = np.full((300, 300), 128, np.uint8)
        a[100 + 50 * i, 20:280] = 0
        a += rng.integers(0, 3, a.shape, dtype=np.uint8)
        Image.fromarray(a).save(tmp_path / f"cell{i}.png")
        files.append(str(tmp_path / f"cell{i}.png"))
    training_copy = torch.stack([torch.from_numpy(decode_image(f, 48)) for f in files])
    shown = display_images(training_copy, files)
    assert shown.shape == (2, DISPLAY_SIZE, DISPLAY_SIZE, 3) and shown.dtype == np.uint8
    assert np.array_equal(shown[1], decode_image(files[1], DISPLAY_SIZE).transpose(1, 2, 0))
    # without files: the training copy, each pixel a 4 x 4 block (nearest), nothing invented
    enlarged = display_images(training_copy, None)
    assert np.array_equal(enlarged[0, ::4, ::4], training_copy[0].permute(1, 2, 0).numpy())

    path = save_gallery(tmp_path / "g" / "round_002.jpg", training_copy, torch.rand(2, 1, 2, 2), [0.31, 0.47],
                        [1, 0], ["crack", "good"], "gradcam_avg fold0 round 2/5", "gradcam_avg", 2, files=files)
    with Image.open(path) as img:
        assert img.format == "JPEG" and img.width >= 2 * DISPLAY_SIZE


@pytest.mark.parametrize("strategy,round_number,heat", [
    ("random", 3, None), ("uncertainty", 3, "view"), ("gradcam_avg", 3, "used"), ("gradcam_avg", 1, None),
])
def test_legend_says_what_the_score_means_and_where_a_heat_map_belongs(strategy, round_number, heat):
    meaning, role = gallery_legend(strategy, round_number)
    assert role == heat
    assert meaning.startswith("round 1 is a seeded random draw" if round_number == 1 else "s = ")
    if strategy == "gradcam_avg" and round_number > 1:
        assert "SSIM" in meaning and "lowest" in meaning


def test_loop_galleries_are_numbered_as_logged_and_stored_once(tmp_path, tracking_uri, tiny_dataset, caplog):
    split = KFold(k=5, index=0, seed=0).split(tiny_dataset.labels)
    run = MlflowRun(tracking_uri, "alflow", "gradcam_avg fold0 seed0", tmp_path / "out")
    settings = loop_settings(batch_size=16, max_rounds=2, gallery_size=4, gallery_dir=str(tmp_path / "out" / "gallery"),
                             state_dir=str(tmp_path / "state"))
    loop = AcquisitionLoop(tiny_dataset, split, strategy("gradcam_avg"), plain_classifier,
                           train_settings(min_steps=1, max_steps=2), settings, listeners=[run], log_prefix="g")
    with caplog.at_level("INFO", logger="alflow"):
        history = loop.run()
    run.finish()
    assert len(history) == 2
    logged = [m for m in caplog.messages if m.startswith("[g] round ")]
    assert [m.split(" | ")[0].split("/")[0] for m in logged] == ["[g] round 1", "[g] round 2"]
    names = sorted(a.path for a in MlflowClient(tracking_uri).list_artifacts(run.run_id, "gallery"))
    assert names == ["gallery/round_001.jpg", "gallery/round_002.jpg"]
    assert not list((tmp_path / "out").rglob("round_*"))  # not kept a second time beside the run
