"""Named seed streams: every random draw of a job comes from one of these, derived from ``seed``.

The values are those of earlier alflow versions (so earlier runs repeat exactly), with one fix:
the training stream of round 999 and later used to collide with the batch retrain's
(``seed * 1000 + 999``); those rounds now draw from a block of their own.
"""
from __future__ import annotations

from dataclasses import dataclass

_ROUNDS_PER_SEED = 1_000
_BATCH_RETRAIN = _ROUNDS_PER_SEED - 1
_LATE_ROUNDS = 1 << 40  # start of the block for rounds >= 999, above every seed * 1000 + r in use


@dataclass(frozen=True)
class SeedStreams:
    seed: int

    def model_init(self) -> int:
        """Weights of every fresh model: the same for every strategy, so they differ only by their picks."""
        return self.seed

    def selection(self, round_index: int) -> int:
        """The random draw of a round with nothing labeled yet (round 0: the same batch for every strategy),
        and the generator handed to the strategy in later rounds (the random strategy's keys)."""
        return self.seed * 100_003 + round_index

    def training(self, round_index: int) -> int:
        """Data order and augmentation of round ``round_index``'s training."""
        if round_index < _BATCH_RETRAIN:
            return self.seed * _ROUNDS_PER_SEED + round_index
        return _LATE_ROUNDS + self.seed * (1 << 20) + round_index

    def verification(self) -> int:
        """The job's random order of the pool, whose still-unlabeled prefix is each round's verification
        sample: a block of its own, above every other stream."""
        return (1 << 41) + self.seed

    def audit(self) -> int:
        """A labeling session's audit sample (the images labeled first, for validation): ``seed + 7919``, the
        value sessions have always drawn it with, so a restarted session draws the same sample."""
        return self.seed + 7_919

    def batch_retrain(self) -> int:
        """Data order and augmentation of the end-of-run batch retrain."""
        return self.seed * _ROUNDS_PER_SEED + _BATCH_RETRAIN
