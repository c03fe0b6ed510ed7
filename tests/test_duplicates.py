"""Issue 14, item 8: exact copies of an image (a folder where files were copied under other names)
were split between test and pool without a word: a silent train/test leak."""
import logging
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import folder_dataset

from alflow.data import KFold
from alflow.data.stats import duplicate_report, split_statistics, statistics_metrics


def make_folder_with_copies(root, n_good=20, n_bad=10):
    """20 good and 10 defect images, all different; then 4 good images copied under other names
    (one re-encoded as TIFF: same pixels, other bytes) and one defect image copied twice."""
    rng = np.random.default_rng(0)
    for cls, n in (("good", n_good), ("scratch", n_bad)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (24, 24), dtype=np.uint8)).save(root / cls / f"{i:03d}.png")
    for i in range(3):
        shutil.copy(root / "good" / f"{i:03d}.png", root / "good" / f"copy_of_{i:03d}.png")
    Image.open(root / "good" / "003.png").save(root / "good" / "003_again.tif")
    for j in range(2):
        shutil.copy(root / "scratch" / "000.png", root / "scratch" / f"000_copy{j}.png")
    return root


def groups_by_name(dataset):
    return sorted(sorted(dataset.files[i].rsplit("/", 2)[-2] + "/" + dataset.files[i].rsplit("/", 1)[-1] for i in g)
                  for g in dataset.duplicate_groups())


def test_copies_are_found_by_content_and_reported_in_the_statistics(tmp_path, caplog):
    ds = folder_dataset(make_folder_with_copies(tmp_path / "data"), ["good"], image_size=16, cache_dir=None)
    assert len(ds) == 36
    assert groups_by_name(ds) == [["good/000.png", "good/copy_of_000.png"], ["good/001.png", "good/copy_of_001.png"],
                                  ["good/002.png", "good/copy_of_002.png"], ["good/003.png", "good/003_again.tif"],
                                  ["scratch/000.png", "scratch/000_copy0.png", "scratch/000_copy1.png"]]
    split = KFold(k=5, index=0, seed=0).split(ds.labels)
    with caplog.at_level(logging.WARNING, logger="alflow"):
        stats = split_statistics(ds, split)
    report = stats["duplicates"]
    assert (report["groups"], report["copies"]) == (5, 6)
    across = [g for g in report["list"] if len(set(g["roles"])) > 1]
    assert report["across_roles"] == len(across) > 0  # this fold does split copies: the leak the issue saw
    assert "split across fold roles" in caplog.text and "dataset.duplicates=warn" in caplog.text
    assert across[0]["files"][0] in caplog.text
    assert statistics_metrics(stats)["data/duplicates/across_roles"] == len(across)


def test_duplicates_error_stops_naming_the_files_and_what_works(tmp_path):
    ds = folder_dataset(make_folder_with_copies(tmp_path / "data"), ["good"], image_size=16, cache_dir=None,
                      duplicates="error")
    split = KFold(k=5, index=0, seed=0).split(ds.labels)
    across = [g for g in duplicate_report(ds, split)["list"] if len(set(g["roles"])) > 1]
    with pytest.raises(ValueError) as caught:
        split_statistics(ds, split)
    message = str(caught.value)
    assert "split across fold roles" in message and "dataset.duplicates=keep_one" in message
    assert all(f"{f} ({r})" in message for g in across for f, r in zip(g["files"], g["roles"]))


def test_keep_one_keeps_the_first_copy_and_lists_the_others(tmp_path, caplog):
    root = make_folder_with_copies(tmp_path / "data")
    with caplog.at_level(logging.WARNING, logger="alflow"):
        ds = folder_dataset(root, ["good"], image_size=16, cache_dir=tmp_path / "cache", duplicates="keep_one")
    assert len(ds) == 30 and ds.duplicate_groups() == []
    assert sorted(p.rsplit("/", 1)[-1] for p in ds.skipped) == ["000_copy0.png", "000_copy1.png", "003_again.tif",
                                                                 "copy_of_000.png", "copy_of_001.png",
                                                                 "copy_of_002.png"]
    assert "copy of" in caplog.text and "dataset.duplicates=keep_one" in caplog.text
    stats = split_statistics(ds, KFold(k=5, index=0, seed=0).split(ds.labels))
    assert stats["duplicates"]["groups"] == 0
    # from the cache: the same digests, so the same answer
    again = folder_dataset(root, ["good"], image_size=16, cache_dir=tmp_path / "cache", duplicates="keep_one")
    assert again.files == ds.files and again.skipped == ds.skipped


def test_duplicates_setting_is_checked(tmp_path):
    with pytest.raises(ValueError, match=r"dataset.duplicates must be one of \['error', 'warn', 'keep_one'\]"):
        folder_dataset(make_folder_with_copies(tmp_path / "data"), ["good"], image_size=16, cache_dir=None,
                     duplicates="drop")


def test_a_dataset_without_copies_reports_none(tmp_path, caplog):
    ds = folder_dataset(make_folder_with_copies(tmp_path / "data", 20, 10), ["good"], image_size=16, cache_dir=None,
                      duplicates="keep_one")
    with caplog.at_level(logging.WARNING, logger="alflow"):
        stats = split_statistics(ds, KFold(k=5, index=0, seed=0).split(ds.labels))
    assert stats["duplicates"] == {"groups": 0, "copies": 0, "across_roles": 0, "list": []}
    assert "split across" not in caplog.text


def test_palette_images_differing_only_in_palette_are_not_copies(tmp_path):
    from alflow.data.files import pixel_digest

    indices = np.random.default_rng(0).integers(0, 4, (8, 8), dtype=np.uint8)
    a, b = Image.fromarray(indices, "P"), Image.fromarray(indices, "P")
    a.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] * 64)
    b.putpalette([9, 9, 9, 255, 255, 0, 0, 255, 255, 255, 0, 255] * 64)
    assert pixel_digest(a) != pixel_digest(b)
    assert pixel_digest(a) == pixel_digest(a.copy())
