"""A job's state after each finished round, committed atomically, so a killed job resumes there.

What is saved is everything the next round depends on: the pool's state (which image was labeled
in which round, and the label the oracle revealed), the history, the selection log and the
model's weights (BatchNorm statistics included). Nothing else carries over between rounds: each
round's training draws from RNGs seeded by a named stream (``alflow.loop.seeds``), the optimizer
is created afresh by every round's ``Trainer``, and the pool is rescored from the restored
weights, so a resumed job repeats an uninterrupted one exactly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from alflow.data.fingerprint import fingerprint_changes
from alflow.records import RoundRecord, SelectionRow

STATE_VERSION = 2  # 2: revealed labels as the pool's tensor; records from alflow.records


@dataclass
class LoopState:
    """A job after its last finished round. ``labeled_round`` and ``revealed``: P int64 each, as
    ``Pool``'s; ``history``: ``RoundRecord`` per round; ``rows``: ``SelectionRow`` per queried image;
    ``data``: what the job's data was (``alflow.data.fingerprint.data_fingerprint``; None in states saved
    before alflow recorded it)."""

    labeled_round: torch.Tensor
    revealed: torch.Tensor
    history: list[RoundRecord]
    rows: list[SelectionRow]
    model_state: dict
    extra: dict = field(default_factory=dict)  # e.g. the MLflow run id to continue
    data: dict | None = None


def save_state(path: str | Path, state: LoopState) -> None:
    """Write to a temporary file, then rename: a kill leaves the old state or the new, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save({"version": STATE_VERSION, **state.__dict__}, tmp)
    os.replace(tmp, path)


def load_state(path: str | Path) -> LoopState | None:
    """The state saved at ``path``, None if there is none; ValueError naming the file when it cannot
    be read or comes from another state version."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ValueError(f"cannot read the saved job state {path}: {exc}; delete it or run with al.resume=false") \
            from exc
    if data.pop("version", None) != STATE_VERSION:
        raise ValueError(f"saved job state {path} is from another alflow version; delete it or use al.resume=false")
    return LoopState(**data)


class OtherDataError(ValueError):
    """A saved state was made from other data than the rerun's: resuming would mix its rounds with other images."""


def check_same_data(path: str | Path, state: LoopState, fingerprint: dict,
                    fix: str = "run with al.resume=false to start over (or restore the data)") -> None:
    """Raise OtherDataError (one line: the state file, what changed, ``al.resume=false``) when ``state`` was
    saved for other data than ``fingerprint`` (``alflow.data.fingerprint.data_fingerprint``); ``fix`` ends the
    line. A state saved before alflow recorded its data cannot be checked and passes."""
    if state.data is None:
        return
    changes = fingerprint_changes(state.data, fingerprint)
    if changes:
        raise OtherDataError(f"saved job state {path} was made from other data ({changes}): resuming would mix its "
                             f"rounds with other images; {fix}")
