"""dataset=elpv: the real development set read from the installed elpv-dataset package."""
import sys

import pytest
import torch

from conftest import elpv_dataset

from alflow.data.elpv import read_labels

pytest.importorskip("elpv_dataset", reason="the elpv extra is part of dev")


def test_labels_follow_the_threshold_and_classes_keep_probability_and_type(tmp_path):
    ds = elpv_dataset(image_size=32, defect_threshold=0.5, resize="stretch", cache_dir=tmp_path, limit=3)
    assert len(ds) == 24  # 3 per class x (mono, poly) x (0, 1/3, 2/3, 1)
    for cls, y in zip(ds.classes, ds.labels.tolist()):
        p = float(cls.split("-p")[1])
        assert y == int(p >= 0.5), cls
    assert ds.images.shape == (24, 3, 32, 32) and ds.images.dtype == torch.uint8
    # grey cells: the three channels are equal
    assert torch.equal(ds.images[:, 0], ds.images[:, 2])
    strict = elpv_dataset(image_size=32, defect_threshold=1.0, resize="stretch", cache_dir=tmp_path, limit=3)
    assert int(strict.labels.sum()) == 6  # only probability 1


def test_whole_set_counts(tmp_path):
    ds = elpv_dataset(image_size=16, defect_threshold=0.5, resize="stretch", cache_dir=None)
    assert len(ds) == 2624
    assert int(ds.labels.sum()) == 56 + 313 + 50 + 402


def test_missing_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "elpv_dataset", None)  # import fails as if not installed
    with pytest.raises(ModuleNotFoundError, match="pip install elpv-dataset"):
        elpv_dataset(image_size=32, defect_threshold=0.5, resize="stretch", cache_dir=None)


def test_bad_threshold_and_bad_labels_file(tmp_path):
    with pytest.raises(ValueError, match="dataset.defect_threshold"):
        elpv_dataset(image_size=32, defect_threshold=0.0, resize="stretch", cache_dir=None)
    bad = tmp_path / "labels.csv"
    bad.write_text("images/a.png 1.0 mono\nimages/b.png nope mono\n")
    with pytest.raises(ValueError, match=r"labels.csv:2"):
        read_labels(bad)


@pytest.mark.slow
def test_a_smoke_job_on_elpv_finishes(tmp_path, tracking_uri):
    from conftest import run_alflow
    from mlflow.tracking import MlflowClient

    proc = run_alflow(["experiment=smoke", "dataset=elpv", "dataset.image_size=32", "dataset.limit=12",
                       "al.max_rounds=2", "gallery_size=0", f"dataset.cache_dir={tmp_path / 'cache'}",
                       f"tracking.uri={tracking_uri}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("alflow").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["dataset"] == "elpv"
    assert len(client.get_metric_history(run.info.run_id, "test/auroc")) == 2
    assert run.data.tags["health"]  # the learner health check ran ("ok" or its findings)
