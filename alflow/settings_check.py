"""Every number (and switch) a user can type, checked for type and range before a job opens a run.

One table, ``SETTINGS``: the dotted key of the composed config (``conf/config.yaml``, the groups under ``conf/``
and ``conf/label.yaml``) -> what it holds (an integer, a number, true/false), its bounds and what it means.
``check_settings(cfg)`` walks it over a composed config and raises one ValueError naming the key, the values
allowed and the value given; a key the config lacks (a group option without it, e.g. ``stopping.patience``
under ``stopping=none``) is skipped. An integer key refuses a float (``fold.index=1.5``, what a float range
of a sweeper emits, and ``1.0`` too: integers stay integers), a bool and a string; a number key takes an
integer and refuses a bool, a string, a NaN or an infinity. The constructors keep their own checks (choices,
relations between keys): this table is the first line, the same for every key.

Hydra-side (called by ``alflow.compose.compose``), torch-free: it imports OmegaConf only.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

_ABSENT = object()


@dataclass(frozen=True)
class Ref:
    """A bound taken from another setting of the same config: its value plus ``offset``
    (``fold.index`` <= ``fold.k`` - 1). Checked before the key that refers to it (the table's order)."""

    key: str
    offset: float = 0


@dataclass(frozen=True)
class Setting:
    """What one key holds. ``kind``: ``int``, ``float`` (a number: ints too) or ``bool``; ``low``/``high``:
    bounds (None: none; a ``Ref``: another key's value), inclusive unless ``low_open``/``high_open``;
    ``null``: null allowed (the key's own meaning of "none"); ``words``: strings allowed besides numbers
    (``"*"``: any string, read by the library it is passed to); ``items``: a non-empty list of such values;
    ``meaning``: what it is (the table's documentation; the message names the key, the values allowed and the
    value given: ``fold.index must be an integer in [0, 9] (fold.k=10), got 1.5``)."""

    kind: str
    meaning: str
    low: float | Ref | None = None
    high: float | Ref | None = None
    low_open: bool = False
    high_open: bool = False
    null: bool = False
    words: tuple[str, ...] = ()
    items: bool = False


def _int(low=None, meaning="", **kw) -> Setting:
    return Setting("int", meaning, low, **kw)


def _num(low=None, meaning="", **kw) -> Setting:
    return Setting("float", meaning, low, **kw)


def _bool(meaning: str) -> Setting:
    return Setting("bool", meaning)


SEED = _int(0, "a seed")
SHARE = {"low": 0, "high": 1}  # a share in [0, 1]

# Key -> what it holds. Order matters where a bound refers to another key (``Ref``): that key comes first.
SETTINGS: dict[str, Setting] = {
    "seed": SEED,
    "gallery_size": _int(0, "selected images drawn a round with their GradCAM; 0 = none"),
    # fold.*
    "fold.k": _int(3, "folds: test, validation and at least one pool fold"),
    "fold.index": _int(0, "the test fold", high=Ref("fold.k", -1)),
    "fold.seed": SEED,
    # al.*
    "al.batch_size": _int(1, "images acquired a round"),
    "al.initial_size": _int(1, "images of the first batch; null = al.batch_size", null=True),
    "al.max_rounds": _int(1, "rounds at most; null = until the pool is exhausted", null=True),
    "al.score_batch_size": _int(1, "images a forward pass when scoring"),
    "al.seed": SEED,
    "al.replay": _bool("train on every labeled image each round"),
    "al.score_bf16": _bool("bfloat16 scoring passes"),
    "al.resume": _bool("a rerun continues from the last finished round"),
    # trainer.*
    "trainer.epochs": _num(0, "passes over a round's training images", low_open=True),
    "trainer.min_steps": _int(0, "optimizer steps a round at least"),
    "trainer.max_steps": _int(1, "optimizer steps a round at most; null = no cap", null=True),
    "trainer.batch_size": _int(1, "images a training step"),
    "trainer.devices": _int(1, "Lightning's devices", words=("*",)),
    "trainer.recalibrate_bn": _bool("recompute BatchNorm statistics after training"),
    # model.*
    "model.head.c": _num(0, "inverse regularisation strength", low_open=True),
    "model.head.c_grid": _num(0, "C values to choose from; null = model.head.c", low_open=True, null=True,
                              items=True),
    "model.head.max_iter": _int(1, "L-BFGS iterations a fit"),
    "model.lr": _num(0, "learning rate", low_open=True),
    "model.weight_decay": _num(0, "weight decay"),
    "model.momentum": _num(0, "SGD momentum", high=1, high_open=True),
    "model.warmup_fraction": _num(0, "share of a fit's steps spent warming up", high=1, high_open=True),
    "model.ssl.epochs": _int(1, "passes over the pool"),
    "model.ssl.batch_size": _int(2, "images a pretraining step"),
    "model.ssl.lr": _num(0, "pretraining learning rate", low_open=True),
    "model.ssl.temperature": _num(0, "NT-Xent temperature", low_open=True),
    "model.ssl.image_size": _int(16, "the views' side in pixels; null = dataset.image_size", null=True),
    "model.ssl.max_minutes": _num(0, "wall-clock cap of a pretraining", low_open=True),
    "model.ssl.seed": SEED,
    # dataset.* (each key where its dataset has it)
    "dataset.n_images": _int(2, "synthetic images"),
    "dataset.image_size": _int(16, "side of the images in pixels"),
    "dataset.defect_fraction": _num(0, "share of defects", high=1, low_open=True, high_open=True),
    "dataset.min_contrast": _num(0, "faintest defect, a share of the grey range", high=1, low_open=True),
    "dataset.max_contrast": _num(Ref("dataset.min_contrast"), "strongest defect, a share of the grey range",
                                 high=1),
    "dataset.defect_threshold": _num(0, "defect probability from which a cell is a defect", high=1,
                                     low_open=True),
    "dataset.limit": _int(1, "images per class at most; null = all", null=True),
    "dataset.max_pixels": _int(1, "largest image admitted, in pixels; null = Pillow's limit", null=True),
    "dataset.bit_depth": _int(9, "the camera's bits per pixel", high=16, words=("auto",)),
    "dataset.seed": SEED,
    # strategy.* (each key where its strategy has it) and cam.*
    "strategy.temperature": _num(0, "temperature of the sampling mode", low_open=True),
    "strategy.mc_samples": _int(2, "dropout masks a scoring pass"),
    "strategy.dropout": _num(0, "drop probability", high=1, low_open=True, high_open=True),
    "strategy.k_neighbors": _int(1, "neighbours of the typicality"),
    "strategy.max_clusters": _int(1, "k-means clusters at most"),
    "strategy.kmeans_iterations": _int(1, "Lloyd updates at most"),
    "strategy.image_size": _int(16, "the image side GradCAM's grid is checked against (dataset.image_size)", null=True),
    "strategy.map_size": _int(7, "side of the maps SSIM compares; null = the image size", null=True),
    "strategy.relu": _bool("keep only positive GradCAM evidence"),
    "strategy.seed": SEED,
    "cam.map_size": _int(7, "side of the maps; null = the image size", null=True),
    "cam.relu": _bool("keep only positive GradCAM evidence"),
    # stopping.* (each key where its criterion has it)
    "stopping.max_labeled": _int(1, "images labeled at most"),
    "stopping.patience": _int(1, "rounds without improvement"),
    "stopping.min_delta": _num(0, "AUROC improvement that counts"),
    "stopping.min_labeled": _int(0, "images labeled before any stop"),
    "stopping.min_rounds": _int(1, "rounds before any stop"),
    "stopping.hold_rounds": _int(0, "rounds the same knee must hold"),
    "stopping.sensitivity": _num(0, "Kneedle's S"),
    "stopping.slope_ratio": _num(0, "slope ratio demanded"),
    "stopping.min_defects": _int(0, "defects found before the slope ratio alone decides"),
    "stopping.tolerance": _num(meaning="share of changed predictions counted as no change", **SHARE),
    "stopping.kappa": _num(-1, "Cohen's kappa threshold", high=1),
    "stopping.window": _int(1, "comparisons in a row"),
    "stopping.recall_target": _num(meaning="defect recall to reach", **SHARE),
    "stopping.nstd": _num(0, "standard deviations below the estimate"),
    "stopping.threshold": _num(0, "expected defects left"),
    "stopping.confidence": _num(meaning="confidence of the test", **SHARE),
    "stopping.sample_size": _int(1, "images labeled at a candidate stop"),
    "stopping.candidate_rate": _num(meaning="defect share of a candidate batch", **SHARE),
    # analysis.*
    "analysis.knee_sensitivity": _num(0, "Kneedle's S of the defects-left curve"),
    "analysis.batch_retrain": _bool("retrain on the images labeled up to the best round"),
    "analysis.batch_epochs": _int(1, "epochs of the batch retrain at least"),
    # label.* (conf/label.yaml: alflow label)
    "label.port": _int(0, "TCP port; 0 = a free one, chosen and printed", high=65535),
    "label.audit_size": _int(0, "images of the audit sample; 0 = none"),
    "label.claim_size": _int(1, "images one tab leases; null = every free one", null=True),
    "label.lease_seconds": _num(0, "how long a lease lasts", low_open=True),
    "label.image_px": _int(16, "longest side of the images shown"),
    "label.show_prediction": _bool("show the model's defect probability"),
}


def check_settings(cfg: DictConfig | dict, table: dict[str, Setting] | None = None) -> None:
    """ValueError naming the first key of ``table`` (default ``SETTINGS``) whose value in ``cfg`` (a composed
    config, resolved key by key) has the wrong type or lies out of range; keys ``cfg`` lacks are skipped."""
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)
    table = SETTINGS if table is None else table
    for key, setting in table.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is _ABSENT:
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        problem = check_value(cfg, key, setting, value)
        if problem:
            raise ValueError(problem)


def check_value(cfg: DictConfig, key: str, setting: Setting, value: Any) -> str | None:
    """The one-line message for ``value`` of ``key``, or None when it fits ``setting``."""
    bounds, context = _bounds(cfg, setting)
    if value is None and setting.null:
        return None
    if isinstance(value, str) and ("*" in setting.words or value in setting.words):
        return None
    if setting.items:
        fits = isinstance(value, (list, tuple)) and len(value) > 0 and \
            all(_fits(setting.kind, v, bounds, setting) for v in value)
    else:
        fits = _fits(setting.kind, value, bounds, setting)
    if fits:
        return None
    refs = f" ({', '.join(context)})" if context else ""
    return f"{key} must be {allowed(setting, bounds)}{refs}, got {value!r}"


def _bounds(cfg: DictConfig, setting: Setting) -> tuple[tuple[float | None, float | None], list[str]]:
    """The numeric bounds of ``setting`` in ``cfg`` (a ``Ref`` read from it; dropped when that key is absent
    or not a number) and the ``key=value`` of each ``Ref`` used, for the message."""
    out, context = [], []
    for bound in (setting.low, setting.high):
        if isinstance(bound, Ref):
            other = OmegaConf.select(cfg, bound.key, default=None)
            if isinstance(other, bool) or not isinstance(other, numbers.Real):
                bound = None
            else:
                context.append(f"{bound.key}={other}")
                bound = other + bound.offset
        out.append(bound)
    return (out[0], out[1]), context


def _fits(kind: str, value: Any, bounds: tuple, setting: Setting) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int" and not isinstance(value, numbers.Integral):
        return False
    if not isinstance(value, numbers.Real) or not math.isfinite(value):
        return False
    low, high = bounds
    if low is not None and (value <= low if setting.low_open else value < low):
        return False
    if high is not None and (value >= high if setting.high_open else value > high):
        return False
    return True


def _number(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def allowed(setting: Setting, bounds: tuple | None = None) -> str:
    """The values ``setting`` allows, in words: ``an integer in [0, 9]``, ``a number > 0 or null``."""
    if setting.kind == "bool":
        return "true or false"
    low, high = bounds if bounds is not None else (setting.low, setting.high)
    low = None if isinstance(low, Ref) else low
    high = None if isinstance(high, Ref) else high
    span = ""
    if low is not None and high is not None:
        span = (f" in {'(' if setting.low_open else '['}{_number(low)}, {_number(high)}"
                f"{')' if setting.high_open else ']'}")
    elif low is not None:
        span = f" {'>' if setting.low_open else '>='} {_number(low)}"
    elif high is not None:
        span = f" {'<' if setting.high_open else '<='} {_number(high)}"
    if setting.items:
        what = f"a non-empty list of {'integers' if setting.kind == 'int' else 'numbers'}{span}"
    else:
        what = f"{'an integer' if setting.kind == 'int' else 'a number'}{span}"
    words = [w for w in setting.words if w != "*"] + (["a string"] if "*" in setting.words else [])
    words += ["null"] if setting.null else []
    return ", ".join([what, *words[:-1]]) + (f" or {words[-1]}" if words else "")
