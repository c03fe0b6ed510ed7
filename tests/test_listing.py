"""Issue 14, item 9: no image under dataset.root is dropped without a word.

Layouts users really have: nested batch folders, links to folders, mixed-case extensions, junk
beside the images, masks to exclude, an image outside any class folder, a huge line-scan frame.
"""
import logging
import os

import numpy as np
import pytest
from PIL import Image

from conftest import folder_dataset, ksdd2_dataset

from alflow.data import BadImageError, KFold, decode_image
from alflow.data.stats import split_statistics


def png(path, seed, size=(20, 20), suffix_format=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
    Image.fromarray(a).save(path, format=suffix_format)
    return path


@pytest.fixture
def messy(tmp_path):
    """good/ and scratch/ with nested batch folders, a linked batch folder, .PNG/.JpG, junk and masks."""
    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    used = []
    for i in range(8):
        used.append(png(root / "good" / "2024-01" / f"batch{i % 2}" / f"g{i}.png", i))
    used.append(png(root / "good" / "UPPER.PNG", 100, suffix_format="PNG"))
    used.append(png(root / "good" / "Mixed.JpG", 101, suffix_format="JPEG"))
    for i in range(4):
        used.append(png(elsewhere / "batch7" / f"l{i}.png", 200 + i))
    os.symlink(elsewhere / "batch7", root / "good" / "linked_batch")
    os.symlink(root / "good", root / "good" / "2024-01" / "loop")  # a link back up: walked once
    for i in range(6):
        used.append(png(root / "scratch" / "line3" / f"s{i}.png", 300 + i))
        png(root / "scratch" / "line3" / f"s{i}_GT.png", 400 + i)  # masks: excluded
    (root / "good" / "notes.txt").write_text("shift notes")
    (root / "good" / "Thumbs.db").write_bytes(b"\x00" * 64)
    left = {
        png(root / "good" / "frame_0001.raw", 500, suffix_format="PNG"): "extension '.raw' is not in dataset.extensions",  # noqa: E501
        png(root / "good" / ".hidden.png", 501): "hidden",
        png(root / "stray.png", 502): "not inside a class folder",
    }
    (root / "good" / "._g0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS junk named like an image
    return root, used, left


def test_every_image_under_the_root_is_used_or_listed_with_its_reason(messy, caplog):
    root, used, left = messy
    with caplog.at_level(logging.WARNING, logger="alflow"):
        ds = folder_dataset(root, ["good"], exclude=["*_GT.png"], image_size=16, cache_dir=None)
    linked = root / "good" / "linked_batch"
    expected = sorted(str(p) if "elsewhere" not in str(p) else str(linked / p.name) for p in used)
    assert sorted(ds.files) == expected  # nested, linked and mixed-case files are all used, once
    assert len(ds) == 20
    for path, reason in left.items():
        assert reason in ds.left_out[str(path)]
        assert str(path) in caplog.text
    masks = [p for p in ds.left_out if p.endswith("_GT.png")]
    assert len(masks) == 6 and all("excluded by dataset.exclude '*_GT.png'" in ds.left_out[m] for m in masks)
    assert "hidden" in ds.left_out[str(root / "good" / "._g0.png")]  # named like an image: listed, not decoded
    assert not any(p.endswith(("notes.txt", "Thumbs.db")) for p in ds.left_out)  # junk is not an image
    assert len(ds.left_out) == 10
    stats = split_statistics(ds, KFold(k=3, index=0, seed=0).split(ds.labels))
    assert stats["left_out_files"] == ds.left_out


def test_a_pattern_matches_any_case_and_lists_what_it_leaves(messy):
    root, _, _ = messy
    ds = folder_dataset(root, ["good"], pattern="**/*.png", exclude=["*_GT.png"], image_size=16, cache_dir=None)
    names = {os.path.basename(f) for f in ds.files}
    assert "UPPER.PNG" in names and "Mixed.JpG" not in names
    jpg = str(root / "good" / "Mixed.JpG")
    assert ds.left_out[jpg] == "not matched by dataset.pattern '**/*.png'"


def test_ksdd2_lists_images_outside_its_layout(tmp_path, caplog):
    root = tmp_path / "ksdd2"
    for split in ("train", "test"):
        for i in range(6):
            png(root / split / f"{i}.png", i)
            mask = np.zeros((20, 20), np.uint8)
            mask[:2, :2] = 255 * (i % 3 == 0)
            Image.fromarray(mask).save(root / split / f"{i}_GT.png")
    extra = png(root / "train" / "extra.jpg", 9, suffix_format="JPEG")
    with caplog.at_level(logging.WARNING, logger="alflow"):
        ds = ksdd2_dataset(root, image_size=16, cache_dir=None)
    assert list(ds.left_out) == [str(extra)] and str(extra) in caplog.text
    assert "KolektorSDD2" in ds.left_out[str(extra)]


def test_huge_images_are_admitted_by_a_setting(tmp_path, monkeypatch):
    # Pillow's decompression-bomb limit made small, so a 60 x 50 frame stands in for a line-scan one.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    path = png(tmp_path / "line_scan.png", 0, size=(50, 60))
    with pytest.raises(BadImageError, match=r"line_scan.png.*60 x 50 = 3000 pixels.*dataset.max_pixels=3000"):
        decode_image(path, 16)
    assert decode_image(path, 16, max_pixels=3000).shape == (3, 16, 16)
    with pytest.raises(BadImageError, match=r"more than dataset.max_pixels=2999"):
        decode_image(path, 16, max_pixels=2999)
    assert Image.MAX_IMAGE_PIXELS == 1000  # Pillow's own setting is left as it was
    with pytest.raises(ValueError, match="dataset.max_pixels must be null"):
        decode_image(path, 16, max_pixels=0)


def test_huge_images_in_a_folder_are_skipped_naming_the_setting_or_admitted(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for i in range(4):
        png(tmp_path / "d" / "good" / f"{i}.png", i)
        png(tmp_path / "d" / "bad" / f"{i}.png", 10 + i)
    big = png(tmp_path / "d" / "bad" / "huge.png", 99, size=(50, 60))
    with caplog.at_level(logging.WARNING, logger="alflow"):
        skipped = folder_dataset(tmp_path / "d", ["good"], image_size=16, cache_dir=None, on_bad_image="skip")
    assert skipped.skipped == [str(big)] and "dataset.max_pixels=3000" in caplog.text
    admitted = folder_dataset(tmp_path / "d", ["good"], image_size=16, cache_dir=None, max_pixels=3000)
    assert len(admitted) == 9 and str(big) in admitted.files
