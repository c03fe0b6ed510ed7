"""Issue 14, item 5: no training-mode forward pass on a batch of one image, end to end.

At 32 px ResNet-18's layer4 is 1 x 1, so BatchNorm in training mode refuses a batch of one
image ("Expected more than 1 value per channel when training"). Each run below meets such a
batch on the old code: the last round of a pool of 5 x 16 + 1, every round of
``al.batch_size=1``, the first round of ``al.initial_size=1``, the trimmed last round of a
budget of 17.
"""
import pytest
from conftest import run_alflow


@pytest.mark.slow
@pytest.mark.parametrize("overrides, last", [
    # 135 images, k=5: a pool of 81 = 5 x 16 + 1 (the first batch of 64 only shortens the run)
    (["dataset.n_images=135", "al.initial_size=64"], "labeled 81/81"),
    (["al.batch_size=1", "al.max_rounds=2"], "labeled 2/72"),
    (["al.initial_size=1", "al.max_rounds=2"], "labeled 17/72"),
    (["stopping=budget", "stopping.max_labeled=17"], "labeled 17/72"),
])
def test_runs_with_a_batch_of_one_image_finish(tmp_path, tracking_uri, overrides, last):
    proc = run_alflow(["experiment=smoke", "gallery_size=0", f"tracking.uri={tracking_uri}", *overrides], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert last in proc.stderr + proc.stdout
