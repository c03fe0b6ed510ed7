"""Training batches that BatchNorm can always use: never a batch of one image.

A training-mode forward pass normalises each BatchNorm channel by the statistics of its
batch, and needs more than one value per channel to do so; at 32 px ResNet-18's ``layer4``
is 1 x 1, so a batch of one image fails ("Expected more than 1 value per channel when
training"), and at larger sizes its statistics come from one image only. A round whose
labeled count leaves one image over (17 images in batches of 16, ``al.batch_size=1``,
``al.initial_size=1``) would meet such a batch.
"""
from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import BatchSampler


class PairedBatchSampler(BatchSampler):
    """``BatchSampler`` whose batches hold at least two indices.

    Same batches as ``BatchSampler(sampler, batch_size, drop_last)``, in the same order and from
    the same random draws, except that a batch of one index gets a second one: the index just
    before it in the epoch's order (the last image of the previous batch), or the same index
    again when the epoch has only one. The number of batches, and so the number of optimizer
    steps per epoch, does not change. ``drop_last`` is accepted for Lightning, which rebuilds
    batch samplers with it; with ``drop_last=True`` a short last batch is dropped as usual.
    """

    def __iter__(self) -> Iterator[list[int]]:
        previous: int | None = None
        for batch in super().__iter__():
            if len(batch) == 1:
                batch = [previous if previous is not None else batch[0], batch[0]]
            previous = batch[-1]
            yield batch
