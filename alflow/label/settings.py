"""The ``label`` config section (defaults in ``conf/label.yaml``, nowhere else)."""
from __future__ import annotations

from dataclasses import dataclass

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class LabelSettings:
    """``session_dir``: the session's folder (label store, model state, GradCAM maps); ``host``/``port``:
    where the page is served; ``token``: required from every request when set, and required to bind
    anywhere but the loopback interface; ``show_prediction``: the model's defect probability on the page
    (it can bias the inspector); ``audit_size``: images of a seeded random audit sample labeled before
    round 0 (0: none); ``claim_size``: images one tab leases from a batch (None: shared, see LabelStore.claim);
    ``lease_seconds``: how long a lease lasts without a write; ``inspector``: the name recorded with each
    label; ``image_px``: longest side, in pixels, of the images shown; ``out``/``input``: the export's
    and the import's file. ValueError naming the ``label.`` key of a bad value."""

    session_dir: str
    host: str
    port: int
    token: str | None
    show_prediction: bool
    audit_size: int
    claim_size: int | None
    lease_seconds: float
    inspector: str
    image_px: int
    out: str | None
    input: str | None

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK and not self.token:
            raise ValueError(f"label.host={self.host} serves the page beyond this machine: set label.token=SECRET "
                             "(every request must then carry it) or keep label.host=127.0.0.1")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port < 65536:
            raise ValueError(f"label.port must be an integer in 0..65535 (0: a free port, chosen and printed), "
                             f"got {self.port!r}")
        if self.audit_size < 0:
            raise ValueError(f"label.audit_size must be >= 0, got {self.audit_size}")
        if self.claim_size is not None and self.claim_size < 1:
            raise ValueError(f"label.claim_size must be >= 1 or null, got {self.claim_size}")
        if self.lease_seconds <= 0 or self.image_px < 16:
            raise ValueError(f"label.lease_seconds must be > 0 and label.image_px >= 16, got {self.lease_seconds}, "
                             f"{self.image_px}")
