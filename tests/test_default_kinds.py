"""The default learner on kinds of real data elpv does not have: parts photographed non-square (resized to a
square), defects at an edge, defects that are only a brightness change, and a tiny pool. A default chosen on
elpv's square cells alone once failed on such parts (docs/design.md, "How a round learns"); these jobs run the
defaults end to end through the command line and read what they logged."""
import numpy as np
import pytest
from conftest import run_alflow
from mlflow.tracking import MlflowClient
from PIL import Image


def write_parts(root, n=100, defect_share=0.3, size=(180, 60), seed=0):
    """``n`` grey parts of ``size`` (width x height) px with a smooth texture; a defect is a patch 35 grey levels
    brighter at the left or right edge, nothing else."""
    rng = np.random.default_rng(seed)
    w, h = size
    for k in range(n):
        coarse = rng.normal(120, 10, (h // 6 + 1, w // 6 + 1))
        texture = np.kron(coarse, np.ones((6, 6)))[:h, :w] + rng.normal(0, 6, (h, w))
        defect = k < defect_share * n
        if defect:
            y = rng.integers(5, h - 25)
            x = rng.choice([rng.integers(0, 8), rng.integers(w - 28, w - 20)])
            texture[y:y + 18, x:x + 20] += 35
        folder = root / ("bright" if defect else "good")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(texture, 0, 255).astype(np.uint8)).save(folder / f"part{k:03d}.png")


@pytest.mark.slow
def test_default_learner_finds_brightness_defects_at_the_edge_of_non_square_parts(tmp_path):
    write_parts(tmp_path / "parts")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_alflow(["dataset=folder", f"dataset.root={tmp_path / 'parts'}", "fold.k=5", "strategy=upper_bound",
                       "gallery_size=0", f"tracking.uri={uri}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    (test,) = client.get_metric_history(run.info.run_id, "test/auroc")
    assert test.value >= 0.85, test.value
    assert run.data.tags["health"] == "ok"


@pytest.mark.slow
def test_default_learner_on_a_tiny_pool_learns_from_its_first_batches(tmp_path):
    write_parts(tmp_path / "parts", n=40, defect_share=0.4, seed=1)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = run_alflow(["dataset=folder", f"dataset.root={tmp_path / 'parts'}", "fold.k=4", "al.batch_size=8",
                       "strategy=uncertainty", "gallery_size=0", f"tracking.uri={uri}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    curve = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "test/auroc"), key=lambda m: m.step)]
    assert len(curve) == 3 and curve[-1] >= 0.8, curve  # 20 pool images in batches of 8
