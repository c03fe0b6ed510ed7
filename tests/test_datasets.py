"""Real-dataset loaders (KolektorSDD2, KolektorSDD, class folders) on tiny fixture trees written with Pillow."""
from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import alflow.data.files as cache_mod
from conftest import folder_dataset, ksdd2_dataset, ksdd_dataset

from alflow.data import BadImageError, InspectionDataset, decode_image
from alflow.data.decode import read_mask

REPO = Path(__file__).resolve().parent.parent
MODES = ("RGB", "L", "RGBA", "P", "I;16")


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch):
    """The default cache folder ($ALFLOW_CACHE_DIR) goes to the test's tmp dir, never ~/.cache."""
    monkeypatch.setenv("ALFLOW_CACHE_DIR", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- fixture trees

def surface(seed: int, w: int, h: int, defect: bool) -> tuple[np.ndarray, np.ndarray]:
    """(grey uint8 image, uint8 mask) of a noisy surface, with a bright blob when ``defect``."""
    rng = np.random.default_rng(seed)
    img = (100 + 30 * rng.random((h, w))).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    if defect:
        y, x = int(rng.integers(2, h - 8)), int(rng.integers(2, w - 6))
        img[y:y + 6, x:x + 4] = 250
        mask[y:y + 6, x:x + 4] = 255
    return img, mask


def save(grey: np.ndarray, path: Path, mode: str) -> Path:
    """``grey`` written in Pillow ``mode`` (16-bit modes get the full 0..65535 range)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        Image.fromarray(grey.astype(np.uint16) * 257).save(path)
        return path
    rgb = np.stack([grey, grey // 2 + 60, 255 - grey], -1).astype(np.uint8)
    img = Image.fromarray(rgb, "RGB")
    if mode == "L":
        img = Image.fromarray(grey, "L")
    elif mode == "RGBA":
        img = img.convert("RGBA")
    elif mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    elif mode == "CMYK":
        img = img.convert("CMYK")
    img.save(path)
    return path


def make_ksdd2(root: Path, n_train=24, n_test=16, defects=(7, 5), w=24, h=64) -> dict:
    """KolektorSDD2 layout; defects spread over each split; image modes cycle through MODES."""
    info = {"images": [], "defects": 0}
    k = 0
    for part, n, d in (("train", n_train, defects[0]), ("test", n_test, defects[1])):
        for i in range(n):
            defect = i % (n // d) == 0 and i // (n // d) < d if d else False
            img, mask = surface(k, w, h, defect)
            ident = 10000 + k
            info["images"].append(save(img, root / part / f"{ident}.png", MODES[k % len(MODES)]))
            Image.fromarray(mask, "L").save(root / part / f"{ident}_GT.png")
            info["defects"] += int(defect)
            k += 1
    return info


def make_ksdd(root: Path, folders=5, parts=8, w=20, h=48) -> dict:
    """KolektorSDD v1 layout: grayscale JPEG parts with BMP label masks; defects in parts 3 and 6 (+ kos01/Part0)."""
    info = {"images": [], "defects": 0}
    k = 0
    for f in range(1, folders + 1):
        for p in range(parts):
            defect = p in (3, 6) or (f == 1 and p == 0)
            img, mask = surface(100 + k, w, h, defect)
            path = root / f"kos{f:02d}" / f"Part{p}.jpg"
            save(img, path, "CMYK" if k == 5 else ("RGB" if k == 9 else "L"))
            Image.fromarray(mask, "L").save(root / f"kos{f:02d}" / f"Part{p}_label.bmp")
            info["images"].append(path)
            info["defects"] += int(defect)
            k += 1
    return info


def make_folder(root: Path, counts=None, masks=True) -> dict:
    """One folder per class; defect images have *_GT.png masks beside them, some sit in sub-folders."""
    counts = counts or {"good": 28, "scratch": 6, "crack": 6}
    info = {"images": [], "classes": []}
    k = 0
    for cls, n in counts.items():
        for i in range(n):
            img, mask = surface(200 + k, 32, 24, cls != "good")
            sub = root / cls / ("sub" if i % 3 == 0 else "")
            ext = ".tif" if k % 7 == 3 else (".bmp" if k % 7 == 5 else ".png")
            mode = "I;16" if ext == ".tif" else ("RGB" if ext == ".bmp" else MODES[k % len(MODES)])
            info["images"].append(save(img, sub / f"{cls}_{i:03d}{ext}", mode))
            info["classes"].append(cls)
            if cls != "good" and masks:
                Image.fromarray(mask, "L").save(sub / f"{cls}_{i:03d}_GT.png")
            k += 1
    (root / "good" / "notes.txt").write_text("not an image")
    return info


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture
def ksdd2_root(tmp_path):
    root = tmp_path / "ksdd2"
    return root, make_ksdd2(root)


# --------------------------------------------------------------------------- decoding

@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "I", "F", "LA", "CMYK", "1"])
def test_decode_every_mode_to_3_channel_uint8(tmp_path, mode):
    grey, _ = surface(0, 24, 64, True)
    if mode in ("I", "F", "LA", "1"):
        base = {"I": Image.fromarray(grey.astype(np.int32) * 257, "I"),
                "F": Image.fromarray(grey.astype(np.float32) / 255, "F"),
                "LA": Image.fromarray(grey, "L").convert("LA"),
                "1": Image.fromarray(grey, "L").convert("1")}[mode]
        path = tmp_path / ("x.tif" if mode in ("I", "F") else "x.png")
        base.save(path)
    else:
        path = save(grey, tmp_path / ("x.jpg" if mode == "CMYK" else "x.png"), mode)
    out = decode_image(path, 32)
    assert out.shape == (3, 32, 32) and out.dtype == np.uint8
    assert out.max() > out.min()  # not flattened or clipped to one value
    if mode in ("L", "I;16", "I", "F", "LA", "1"):
        assert (out[0] == out[1]).all() and (out[1] == out[2]).all()
    if mode in ("I;16", "I", "F"):  # same picture as its 8-bit version
        ref = decode_image(save(grey, tmp_path / "ref.png", "L"), 32)
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_16_bit_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 32 * 32).round().astype(np.uint16).reshape(32, 32)
    path = tmp_path / "ramp.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode == "I;16"
    out = decode_image(path, 32)[0].astype(np.int64)
    assert out.min() == 0 and out.max() == 255
    assert (np.abs(out - np.round(ramp / 257.0)) <= 1).all()
    assert (out == 255).mean() < 0.01  # clipping would saturate ~99% of the ramp
    dark = np.full((32, 32), 4095, np.uint16)  # a 12-bit sensor's white in a 16-bit file
    Image.fromarray(dark).save(path)
    assert (decode_image(path, 32, bit_depth=16) == 16).all()  # scaled by the container, if asked to
    assert (decode_image(path, 32) == 255).all()  # auto: 12 bits, 4095 is white


# Issue 14, item 4: Mono12 frames saved as 16-bit PNG/TIFF were scaled by 255/65535 and kept 16 grey levels.

def _mono12_scene() -> np.ndarray:
    """A 12-bit frame (values <= 4095) with a faint scratch 40 levels (1 %) above its background."""
    rng = np.random.default_rng(0)
    frame = (2000 + 600 * np.sin(np.linspace(0, 3, 48))[None, :] + rng.normal(0, 20, (48, 48))).round()
    frame[20:23, 5:40] += 40
    frame[0, 0] = 4095  # the sensor's white somewhere
    return frame.clip(0, 4095).astype(np.uint16)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("bit_depth", ["auto", 12])
def test_12_bit_data_in_16_bit_files_decodes_like_its_8_bit_export(tmp_path, suffix, bit_depth):
    frame = _mono12_scene()
    raw = tmp_path / f"raw{suffix}"
    Image.fromarray(frame).save(raw)
    assert Image.open(raw).mode.startswith("I;16")
    export = save(np.rint(frame * 255.0 / 4095).astype(np.uint8), tmp_path / "export.png", "L")
    for size in (48, 32):
        assert np.array_equal(decode_image(raw, size, bit_depth=bit_depth), decode_image(export, size))
    scratch = decode_image(raw, 48, bit_depth=bit_depth)[0].astype(int)
    assert scratch[20:23, 5:40].mean() - scratch[15:18, 5:40].mean() > 1.5  # visible: >= 2 of 255 levels


def test_a_folder_of_16_bit_frames_equals_its_8_bit_export(tmp_path):
    rng = np.random.default_rng(1)
    for kind in ("raw", "export"):
        for c in ("good", "scratch"):
            (tmp_path / kind / c).mkdir(parents=True)
    for i in range(6):
        frame = (_mono12_scene().astype(np.int64) + rng.integers(-30, 30, (48, 48))).clip(0, 4095)
        for c in ("good", "scratch"):
            Image.fromarray(frame.astype(np.uint16)).save(tmp_path / "raw" / c / f"{i}.png")
            save(np.rint(frame * 255.0 / 4095).astype(np.uint8), tmp_path / "export" / c / f"{i}.png", "L")
    raw = folder_dataset(tmp_path / "raw", ["good"], image_size=32, cache_dir=None)
    export = folder_dataset(tmp_path / "export", ["good"], image_size=32, cache_dir=None)
    assert torch.equal(raw.images, export.images)


def test_bit_depth_setting_is_checked_and_enforced(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(np.full((16, 16), 5000, np.uint16)).save(path)
    with pytest.raises(BadImageError, match=r"x.png.*5000.*4095 of dataset.bit_depth=12"):
        decode_image(path, 16, bit_depth=12)
    assert (decode_image(path, 16, bit_depth=14) == round(5000 * 255 / 16383)).all()
    for bad in (8, 17, "12", True, None):
        with pytest.raises(ValueError, match="dataset.bit_depth must be auto or an integer from 9 to 16"):
            decode_image(path, 16, bit_depth=bad)


def test_bit_depth_changes_the_cache_key(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(np.full((16, 16), 4000, np.uint16)).save(path)
    assert cache_mod.cache_key([path], None, 16, "stretch", "error", bit_depth="auto") != \
        cache_mod.cache_key([path], None, 16, "stretch", "error", bit_depth=16)


def test_resize_stretch_and_pad(tmp_path):
    path = tmp_path / "white.png"
    Image.new("L", (24, 64), 255).save(path)  # 3:8 like a KolektorSDD2 strip
    stretched = decode_image(path, 32, "stretch")
    assert (stretched == 255).all()
    padded = decode_image(path, 32, "pad")
    cols = np.flatnonzero(padded[0].max(axis=0) > 0)
    assert (padded[:, :, :cols[0]] == 0).all() and (padded[:, :, cols[-1] + 1:] == 0).all()
    assert len(cols) == 12 and cols[0] == 10  # 24 * 32/64 wide, centred
    assert (padded[:, :, cols] > 200).all()  # full height kept
    with pytest.raises(ValueError, match="dataset.resize must be one of"):
        decode_image(path, 32, "crop")


@pytest.mark.parametrize("kind", ["truncated png", "truncated jpg", "not an image", "empty file"])
def test_bad_file_raises_bad_image_error_naming_it(tmp_path, kind):
    grey, _ = surface(0, 40, 40, False)
    path = save(grey, tmp_path / ("bad.jpg" if "jpg" in kind else "bad.png"), "RGB")
    if kind.startswith("truncated"):
        truncate(path)
    else:
        path.write_bytes(b"" if kind == "empty file" else b"hello, not a picture" * 10)
    with pytest.raises(BadImageError, match="cannot decode image") as err:
        decode_image(path, 32)
    assert str(path) in str(err.value) and isinstance(err.value, ValueError)


def test_mask_alpha_and_palette_rules(tmp_path):
    Image.new("RGBA", (8, 8), (0, 0, 0, 255)).save(tmp_path / "opaque.png")
    assert read_mask(tmp_path / "opaque.png") == ((8, 8), False)
    p = Image.new("P", (8, 8), 0)
    p.putpalette([255, 255, 255] + [0, 0, 0] * 255)  # background index 0 drawn white
    p.save(tmp_path / "pal.png")
    assert read_mask(tmp_path / "pal.png") == ((8, 8), False)
    p.putpixel((3, 3), 1)
    p.save(tmp_path / "pal.png")
    assert read_mask(tmp_path / "pal.png") == ((8, 8), True)


# --------------------------------------------------------------------------- the three layouts

def check_dataset(ds: InspectionDataset, n: int, n_defects: int, size: int) -> None:
    assert isinstance(ds, InspectionDataset) and len(ds) == n
    assert ds.images.shape == (n, 3, size, size) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and set(ds.labels.tolist()) == {0, 1}
    assert int(ds.labels.sum()) == n_defects and len(ds.classes) == n and ds.skipped == []


def test_ksdd2(ksdd2_root):
    root, info = ksdd2_root
    ds = ksdd2_dataset(root, image_size=32, cache_dir=None)
    check_dataset(ds, 40, info["defects"], 32)
    assert info["defects"] == 12 and ds.name == "ksdd2"
    assert ds.class_counts() == {"defect": 12, "good": 28}
    assert [c == "defect" for c in ds.classes] == [bool(v) for v in ds.labels.tolist()]
    # the blob of a defect is bright in the decoded picture, whatever the file's mode
    for i in np.flatnonzero(ds.labels.numpy()):
        assert ds.images[i].max() >= 200
    train = ksdd2_dataset(root, image_size=32, split="train", cache_dir=None)
    test = ksdd2_dataset(root, image_size=32, split="test", cache_dir=None)
    assert (len(train), int(train.labels.sum()), len(test), int(test.labels.sum())) == (24, 7, 16, 5)
    assert torch.equal(torch.cat([train.images, test.images]), ds.images)


def test_ksdd(tmp_path):
    info = make_ksdd(tmp_path / "ksdd")
    ds = ksdd_dataset(tmp_path / "ksdd", image_size=16, cache_dir=None)
    check_dataset(ds, 40, info["defects"], 16)
    assert info["defects"] == 11 and ds.class_counts() == {"defect": 11, "good": 29}
    assert ds.labels.tolist()[:8] == [1, 0, 0, 1, 0, 0, 1, 0]  # kos01 Part0..Part7, in order


def test_folder(tmp_path):
    make_folder(tmp_path / "mvtec")
    ds = folder_dataset(tmp_path / "mvtec", ["good"], exclude="*_GT.png", image_size=16, cache_dir=None)
    check_dataset(ds, 40, 12, 16)
    assert ds.name == "folder" and ds.class_counts() == {"crack": 6, "good": 28, "scratch": 6}
    assert ds.labels.tolist() == [int(c != "good") for c in ds.classes]
    # without the exclude the masks beside the defects are taken as images of their class
    with_masks = folder_dataset(tmp_path / "mvtec", "good", image_size=16, cache_dir=None)
    assert with_masks.class_counts() == {"crack": 12, "good": 28, "scratch": 12}
    # a narrower pattern: only the top level of each class folder
    top = folder_dataset(tmp_path / "mvtec", ["good"], pattern="*.png", exclude=["*_GT.png"], image_size=16,
                       cache_dir=None)
    assert 0 < len(top) < 40 and all("sub" not in c for c in top.classes)
    two_negatives = folder_dataset(tmp_path / "mvtec", ["good", "crack"], exclude="*_GT.png", image_size=16,
                                 cache_dir=None)
    assert int(two_negatives.labels.sum()) == 6


def test_pad_mode_dataset(ksdd2_root):
    root, _ = ksdd2_root
    ds = ksdd2_dataset(root, image_size=32, resize="pad", split="test", cache_dir=None)
    assert (ds.images[:, :, :, :10] == 0).all() and (ds.images[:, :, :, 22:] == 0).all()
    assert (ds.images[:, :, :, 10:22].amax(dim=(1, 2, 3)) > 0).all()


# --------------------------------------------------------------------------- cache

@pytest.fixture
def count_decodes(monkeypatch):
    calls = []
    original = cache_mod.open_image

    def counting(path, *args):
        calls.append(Path(path).name)
        return original(path, *args)

    monkeypatch.setattr(cache_mod, "open_image", counting)
    return calls


def test_cache_hit_and_invalidation(ksdd2_root, tmp_path, count_decodes):
    root, info = ksdd2_root
    cache_dir = tmp_path / "cache"  # $ALFLOW_CACHE_DIR: the default cache_dir
    first = ksdd2_dataset(root, image_size=32)
    assert len(count_decodes) == 40 and len(list(cache_dir.glob("*.pt"))) == 1
    count_decodes.clear()
    second = ksdd2_dataset(root, image_size=32)
    assert count_decodes == []  # nothing decoded, masks not even opened
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)
    assert first.classes == second.classes

    ksdd2_dataset(root, image_size=16)  # another size: decoded again, cached beside
    assert len(count_decodes) == 40 and len(list(cache_dir.glob("*.pt"))) == 2
    count_decodes.clear()
    ksdd2_dataset(root, image_size=32, resize="pad")
    assert len(count_decodes) == 40
    count_decodes.clear()

    # a changed file (new content and mtime) invalidates the cache
    target = info["images"][3]
    mask = target.with_name(target.stem + "_GT.png")
    img, m = surface(999, 24, 64, True)
    save(img, target, "RGB")
    Image.fromarray(m, "L").save(mask)
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))
    third = ksdd2_dataset(root, image_size=32)
    assert len(count_decodes) == 40
    assert int(third.labels.sum()) == int(first.labels.sum()) + (1 - int(first.labels[3]))
    count_decodes.clear()
    # a removed image (and its mask) too
    target.unlink()
    mask.unlink()
    assert len(ksdd2_dataset(root, image_size=32)) == 39 and len(count_decodes) == 39


def test_cache_disabled_and_explicit_dir(ksdd2_root, tmp_path, count_decodes):
    root, _ = ksdd2_root
    ksdd2_dataset(root, image_size=16, split="test", cache_dir=None)
    ksdd2_dataset(root, image_size=16, split="test", cache_dir=None)
    assert len(count_decodes) == 32 and not (tmp_path / "cache").exists()
    count_decodes.clear()
    ksdd2_dataset(root, image_size=16, split="test", cache_dir=tmp_path / "mine")
    ksdd2_dataset(root, image_size=16, split="test", cache_dir=str(tmp_path / "mine"))
    assert len(count_decodes) == 16 and len(list((tmp_path / "mine").glob("ksdd2-16px-*.pt"))) == 1


def test_damaged_cache_file_is_decoded_again(ksdd2_root, tmp_path, count_decodes, caplog):
    root, _ = ksdd2_root
    first = ksdd2_dataset(root, image_size=16, split="test")
    (cached,) = (tmp_path / "cache").glob("*.pt")
    cached.write_bytes(b"garbage")
    count_decodes.clear()
    with caplog.at_level(logging.WARNING, logger="alflow"):
        again = ksdd2_dataset(root, image_size=16, split="test")
    assert len(count_decodes) == 16 and torch.equal(first.images, again.images)
    assert "ignoring unreadable cache file" in caplog.text and str(cached) in caplog.text


def test_folder_cache_keeps_labels_of_current_negative_classes(tmp_path, count_decodes):
    make_folder(tmp_path / "f")
    a = folder_dataset(tmp_path / "f", ["good"], exclude="*_GT.png", image_size=16)
    count_decodes.clear()
    b = folder_dataset(tmp_path / "f", ["good", "crack"], exclude="*_GT.png", image_size=16)
    assert count_decodes == [] and torch.equal(a.images, b.images)  # same files: cache hit
    assert int(a.labels.sum()) == 12 and int(b.labels.sum()) == 6


def test_progress_is_logged_every_tenth_when_not_a_tty(tmp_path, caplog):
    path = save(surface(0, 16, 16, False)[0], tmp_path / "x.png", "L")
    with caplog.at_level(logging.INFO, logger="alflow"):
        out = cache_mod.load_images([path] * 120, 16, "stretch", cache_dir=None, on_bad_image="error", bit_depth="auto",
                                        max_pixels=None, name="many")
    assert out.images.shape == (120, 3, 16, 16) and out.kept == list(range(120)) and out.labels is None
    steps = [r.getMessage() for r in caplog.records if r.getMessage().endswith("%)")]
    assert steps[0] == "many: decoded 12/120 images (10%)" and steps[-1] == "many: decoded 120/120 images (100%)"
    assert len(steps) == 10


# --------------------------------------------------------------------------- bad images: error or skip

def test_truncated_image_in_dataset_error_or_skip(ksdd2_root, caplog):
    root, info = ksdd2_root
    bad = info["images"][5]
    truncate(bad)
    with pytest.raises(BadImageError) as err:
        ksdd2_dataset(root, image_size=16)
    assert str(bad) in str(err.value) and "on_bad_image=skip" in str(err.value)
    with caplog.at_level(logging.WARNING, logger="alflow"):
        ds = ksdd2_dataset(root, image_size=16, on_bad_image="skip")
    assert len(ds) == 39 and ds.skipped == [str(bad)]
    assert "skipped 1 of 40" in caplog.text and str(bad) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="alflow"):  # a cache hit still reports the skipped file
        again = ksdd2_dataset(root, image_size=16, on_bad_image="skip")
    assert again.skipped == [str(bad)] and str(bad) in caplog.text and torch.equal(again.labels, ds.labels)


def test_truncated_mask_names_the_mask(ksdd2_root):
    root, info = ksdd2_root
    mask = info["images"][2].with_name(info["images"][2].stem + "_GT.png")
    truncate(mask, 0.3)
    with pytest.raises(BadImageError, match="it is the mask of") as err:
        ksdd2_dataset(root, image_size=16, cache_dir=None)
    assert str(mask) in str(err.value)
    assert ksdd2_dataset(root, image_size=16, cache_dir=None, on_bad_image="skip").skipped == [str(mask)]


def test_folder_and_ksdd_skip(tmp_path):
    info = make_folder(tmp_path / "f")
    truncate(info["images"][0])
    ds = folder_dataset(tmp_path / "f", ["good"], exclude="*_GT.png", image_size=16, on_bad_image="skip")
    assert len(ds) == 39 and ds.skipped == [str(info["images"][0])] and ds.class_counts()["good"] == 27
    info = make_ksdd(tmp_path / "k")
    truncate(info["images"][7])
    with pytest.raises(BadImageError, match=str(info["images"][7])):
        ksdd_dataset(tmp_path / "k", image_size=16)


# --------------------------------------------------------------------------- bad inputs

def test_bad_roots(tmp_path):
    missing = tmp_path / "nope"
    for build in (ksdd2_dataset, ksdd_dataset, lambda r, **kw: folder_dataset(r, ["good"], **kw)):
        with pytest.raises(FileNotFoundError, match=f"dataset.root {missing} does not exist"):
            build(missing, image_size=16)
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(ValueError, match=f"dataset.root {tmp_path / 'empty'} is empty"):
            build(tmp_path / "empty", image_size=16)
        (tmp_path / "file.png").write_bytes(b"x")
        with pytest.raises(NotADirectoryError, match="is not a folder"):
            build(tmp_path / "file.png", image_size=16)
        with pytest.raises(ValueError, match="dataset.root is not set"):
            build("???", image_size=16)


def test_ksdd2_bad_layouts(tmp_path, ksdd2_root):
    root, info = ksdd2_root
    (tmp_path / "only_train" / "train").mkdir(parents=True)
    Image.new("L", (4, 4)).save(tmp_path / "only_train" / "train" / "1_GT.png")
    with pytest.raises(FileNotFoundError, match=r"only_train/test not found.*dataset.split=train"):
        ksdd2_dataset(tmp_path / "only_train", image_size=16)
    with pytest.raises(ValueError, match=r"no images \(ID.png beside ID_GT.png\) in .*only_train/train"):
        ksdd2_dataset(tmp_path / "only_train", image_size=16, split="train")
    with pytest.raises(ValueError, match="dataset.split must be one of"):
        ksdd2_dataset(root, split="val")
    mask = info["images"][4].with_name(info["images"][4].stem + "_GT.png")
    Image.new("L", (24, 60)).save(mask)
    with pytest.raises(ValueError, match=rf"mask {mask} is 24x60 but image is 24x64"):
        ksdd2_dataset(root, image_size=16)
    with pytest.raises(ValueError, match=rf"mask {mask} is 24x60"):  # not a bad file: skip does not hide it
        ksdd2_dataset(root, image_size=16, on_bad_image="skip")
    mask.unlink()
    with pytest.raises(FileNotFoundError, match=rf"missing mask for {info['images'][4]}"):
        ksdd2_dataset(root, image_size=16)


def test_ksdd_bad_layouts(tmp_path):
    (tmp_path / "flat").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "flat" / "Part0.jpg")
    with pytest.raises(ValueError, match="no sub-folders"):
        ksdd_dataset(tmp_path / "flat", image_size=16)
    (tmp_path / "flat" / "kos01").mkdir()
    with pytest.raises(ValueError, match="no images"):
        ksdd_dataset(tmp_path / "flat", image_size=16)
    info = make_ksdd(tmp_path / "k", folders=2)
    label = info["images"][1].with_name("Part1_label.bmp")
    Image.new("L", (10, 10)).save(label)
    with pytest.raises(ValueError, match=rf"mask {label} is 10x10 but image is 20x48"):
        ksdd_dataset(tmp_path / "k", image_size=16)
    label.unlink()
    with pytest.raises(FileNotFoundError, match=rf"missing mask for {info['images'][1]}"):
        ksdd_dataset(tmp_path / "k", image_size=16)


def test_folder_bad_inputs(tmp_path):
    root = tmp_path / "f"
    make_folder(root)
    with pytest.raises(ValueError, match=r"unknown class 'ok'.* are \['crack', 'good', 'scratch'\]"):
        folder_dataset(root, ["ok"])
    with pytest.raises(ValueError, match="negative_classes is empty"):
        folder_dataset(root, [])
    with pytest.raises(ValueError, match=r"no image files match pattern '\*\*/\*.jpg'.*of " + str(root)):
        folder_dataset(root, ["good"], pattern="**/*.jpg")
    with pytest.raises(ValueError, match=r"only one binary class.*all defect"):
        folder_dataset(root, ["good"], pattern="**/*_GT.png")  # masks exist for defect classes only
    with pytest.raises(ValueError, match=r"only one binary class.*all negative"):
        folder_dataset(root, ["good", "crack", "scratch"])
    with pytest.raises(ValueError, match="not a relative glob"):
        folder_dataset(root, ["good"], pattern="")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"x")
    with pytest.raises(ValueError, match="no class folders"):
        folder_dataset(tmp_path / "flat", ["good"])


@pytest.mark.parametrize("kwargs,message", [
    ({"image_size": 8}, "dataset.image_size must be an integer >= 16"),
    ({"resize": "crop"}, "dataset.resize must be one of"),
    ({"on_bad_image": "ignore"}, "dataset.on_bad_image must be one of"),
])
def test_bad_settings(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ksdd2_dataset(tmp_path, **kwargs)


# --------------------------------------------------------------------------- end to end
# The real CLI in subprocesses, started together to share the ~20 s import of torch/Lightning/MLflow:
# one Hydra multirun of a smoke job on each layout (each job reads its own fixture tree through
# ${hydra:runtime.choices.dataset}), and beside it a single run on a tree with a truncated image.

def _smoke_overrides(tmp_path: Path) -> list[str]:
    """Smoke overrides for a real dataset, deleting keys the smoke overlay sets for synthetic only."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    args = ["experiment=smoke", "al.max_rounds=1", "trainer.min_steps=1",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    with initialize_config_dir(str(REPO / "conf"), version_base=None):
        cfg = compose("config", overrides=[*args, "dataset=ksdd2", "dataset.root=x"])
    own = set(OmegaConf.load(REPO / "conf" / "dataset" / "ksdd2.yaml"))
    return args + [f"~dataset.{k}" for k in cfg.dataset if k not in own]


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "ALFLOW_CACHE_DIR": str(cwd / "cache"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "alflow", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def smoke_jobs(tmp_path_factory):
    good = tmp_path_factory.mktemp("e2e")
    make_ksdd2(good / "ksdd2")
    make_ksdd(good / "ksdd")
    make_folder(good / "folder", masks=False)  # the sweep passes no dataset.exclude
    bad = tmp_path_factory.mktemp("e2e_bad")
    corrupt = make_folder(bad / "folder")["images"][30]
    truncate(corrupt)
    sweep = _start(["-m", "dataset=ksdd2,ksdd,folder", "strategy=random", "fold.index=0",
                    "++dataset.root=" + str(good) + "/${hydra:runtime.choices.dataset}",
                    *_smoke_overrides(good)], good)
    # the folder layout needs its options on the command line: negative classes and the masks to leave out
    single = _start(["dataset=folder", f"dataset.root={bad / 'folder'}", "dataset.negative_classes=[good]",
                     "dataset.exclude=[*_GT.png]", *_smoke_overrides(bad)], bad)
    results = {}
    for key, proc in (("sweep", sweep), ("corrupt", single)):
        try:
            out, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results[key] = (proc.returncode, out, err)
    return {"dir": good, "corrupt_file": corrupt, **results}


@pytest.mark.slow
@pytest.mark.parametrize("layout,defects", [("ksdd2", 12), ("ksdd", 11), ("folder", 12)])
def test_smoke_job_on_each_layout(smoke_jobs, layout, defects):
    rc, out, err = smoke_jobs["sweep"]
    log_text = out + err
    assert f"] {layout}: 40 images ({defects} defects); pool 24, val 8, test 8" in log_text, log_text[-3000:]
    assert rc == 0, err[-3000:]
    assert len(list((smoke_jobs["dir"] / "cache").glob(f"{layout}-48px-*.pt"))) == 1  # experiment=smoke: 48 px
    with sqlite3.connect(smoke_jobs["dir"] / "mlflow.db") as db:
        rows = db.execute("SELECT r.status FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                          "WHERE t.key = 'dataset' AND t.value = ?", (layout,)).fetchall()
    assert rows == [("FINISHED",)]


@pytest.mark.slow
def test_smoke_job_fails_on_a_corrupt_image_naming_it(smoke_jobs):
    rc, out, err = smoke_jobs["corrupt"]
    assert rc != 0
    assert str(smoke_jobs["corrupt_file"]) in err and "BadImageError" in err and "on_bad_image=skip" in err
