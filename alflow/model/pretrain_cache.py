"""Caches a self-supervised pretraining (and, through ``cached``, a frozen backbone's features:
``alflow.model.features``) on disk, computed once even by parallel jobs.

One ``torch.save`` file per (images, settings): ``{name}-ssl-{method}-{key[:24]}.pt`` in the
cache folder, holding the backbone state dict, the key and how the run went (epochs, steps,
seconds, losses). The key is the sha256 of

* the pool's uint8 image bytes (shape included), in pool order,
* every setting that changes the weights (``SSLSettings.result_settings``), the digest of the
  starting weights (``model.weights_path``) when there are any,
* ``CACHE_VERSION`` and the views' ``VIEWS_VERSION``,

so labels never enter it, and every job of a sweep over strategies on one fold finds the same
file. Writes go to a temporary file renamed into place (a reader never sees half a file); an
exclusive ``fcntl`` lock on ``<file>.lock`` makes the second of two jobs started together wait
for the first and then load its result instead of computing it again.

``cache_dir``: like ``dataset.cache_dir`` — ``"default"`` for ``$ALFLOW_CACHE_DIR`` or else
``~/.cache/alflow``, None (Hydra ``null``) for no cache (every job pretrains).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from alflow.data.files import resolve_cache_dir
from alflow.model.ssl_views import VIEWS_VERSION

log = logging.getLogger("alflow")

CACHE_VERSION = 1


def pretraining_key(images: torch.Tensor, settings: Mapping, init_digest: str | None) -> str:
    """sha256 hex of ``images`` (N x 3 x H x W uint8) bytes, ``settings`` and the versions."""
    h = hashlib.sha256()
    spec = {"version": CACHE_VERSION, "views": VIEWS_VERSION, "settings": dict(settings),
            "init": init_digest, "shape": list(images.shape), "dtype": str(images.dtype)}
    h.update(json.dumps(spec, sort_keys=True).encode())
    h.update(images.contiguous().numpy().tobytes())
    return h.hexdigest()


def state_digest(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 hex of a state dict's names and tensor bytes, in sorted order."""
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _read(cache_file: Path, key: str) -> dict | None:
    if not cache_file.is_file():
        return None
    try:
        payload = torch.load(cache_file, map_location="cpu", weights_only=True)
        if payload.get("key") != key:
            raise ValueError("its key differs")
        return payload
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign file is computed again
        log.warning("ignoring unreadable cache file %s (%s); computing it again", cache_file, exc)
        return None


def _write(cache_file: Path, payload: dict) -> None:
    tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, cache_file)  # atomic: a concurrent reader sees the old file or the new
    except OSError as exc:
        log.warning("could not write the cache file %s (%s); continuing without it", cache_file, exc)
        tmp.unlink(missing_ok=True)


def cached(cache_dir: str | os.PathLike | None, stem: str, key: str,
           compute: Callable[[], dict]) -> tuple[dict, Path | None, bool]:
    """``compute()``'s payload (a dict of tensors, numbers, lists), from ``{stem}-{key[:24]}.pt`` when cached.

    Returns (payload, cache file or None, True when it came from the cache). While one process
    computes, others asking for the same key block on the lock, then read its file.
    """
    root = resolve_cache_dir(cache_dir)
    if root is None:
        return compute(), None, False
    root.mkdir(parents=True, exist_ok=True)
    cache_file = root / f"{stem}-{key[:24]}.pt"
    with open(cache_file.with_name(cache_file.name + ".lock"), "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another job computing %s (lock %s.lock)", stem, cache_file)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            payload = _read(cache_file, key)
            if payload is not None:
                return payload, cache_file, True
            payload = {**compute(), "key": key, "version": CACHE_VERSION}
            _write(cache_file, payload)
            return payload, cache_file, False
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
