"""A labeling session: the acquisition loop with a person as the oracle, run by a worker thread.

The rounds are the experiments' rounds (``AcquisitionLoop.step``: score → select → reveal → label
the pool → update the model → evaluate → record → commit); only the oracle differs.
``HumanOracle.reveal`` has the simulated oracle's signature and blocks until the page has
submitted the round's batch, so training and scoring run in the worker thread, off the
request path, while the page shows progress. Round 0 is the experiments' seeded random draw.

What survives a kill: the label store (every acknowledged label, the batch of each round as
selected) and the loop's state after its last finished round (model weights, history). A
restarted session rebuilds the pool from the store, reuses the stored batch of the round that
was open, and carries on; a round submitted but not yet trained is trained again.

In a session the dataset's own labels (e.g. class folder names) are never read: the labels
the loop sees are zeros except the audit sample's answers, which make the validation set, so
the round records' validation AUROC is the AUROC on the audit sample.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from alflow.data import FoldSplit, InspectionDataset
from alflow.loop import AcquisitionLoop, LoopSettings, ModelVersion, SeedStreams, TrainSettings
from alflow.data.fingerprint import data_fingerprint
from alflow.loop.checkpoint import check_same_data, load_state
from alflow.records import RoundRecord, SelectionRow
from alflow.label.settings import LabelSettings
from alflow.label.stop import about, criterion_words, recall_rule, stop_line
from alflow.label.store import AUDIT_ROUND, VALUE, LabelStore, file_sha256
from alflow.stopping import StoppingCriterion, knee_point
from alflow.explain import CamSettings
from alflow.strategies import Selection, Strategy

log = logging.getLogger("alflow")

# criteria that read the validation set (AUROC on it, predictions on it): a session has one only with an audit
NEEDS_AUDIT = ("plateau", "stabilizing")


class SessionClosed(Exception):
    """The server is shutting down: the worker leaves the round it waits in (nothing is lost)."""


def model_version_name(rounds_trained: int) -> str:
    return "untrained" if rounds_trained == 0 else f"round-{rounds_trained}"


class HumanOracle:
    """The person at the page: ``reveal(indices)`` returns their labels (1 defect, 0 good, -1 unsure)
    once the round's batch holding ``indices`` is submitted, blocking the worker until then."""

    def __init__(self, session: LabelSession):
        self.session = session

    def reveal(self, indices: torch.Tensor) -> torch.Tensor:
        s = self.session
        ids = [s.image_id[int(i)] for i in indices.tolist()]
        round_index = s.store.query("SELECT MAX(round) AS r FROM batches WHERE image_id = ? AND kind != 'import'",
                                    (ids[0],))[0]["r"]
        while not s.store.round_complete(round_index):
            s.set_phase("waiting for labels", round_index)
            s.wait()
        labels = {item.image_id: item.label for item in s.store.batch(round_index)}
        return torch.tensor([VALUE[labels[i]] for i in ids], dtype=torch.int64)


class LabelSession:
    """One session over ``dataset`` (its ``files`` lie under ``root``), kept in ``settings.session_dir``.

    ``strategy``, ``model_factory``, ``train``, ``loop_settings`` and ``stopping`` are an experiment's;
    ``criteria`` are the stopping criteria whose verdicts the status panel shows; ``listeners`` (e.g.
    the MLflow run) are told of every round; ``tracker`` (an ``alflow.tracking.MlflowRun``, optional) also
    gets the session's own metrics (``label/*``); ``features``: a head learner's cached backbone features
    (``alflow.model.learner.Learner.features``); ``initial_strategy``, ``pretrained_backbone``: the cold
    start's (``al.initial_strategy``, as in ``AcquisitionLoop``); ``cam_settings``: the GradCAM drawn on the
    page for a strategy without maps of its own. ValueError for a dataset not read from files.

    The session is the loop's ``BatchSource`` (a round's stored batch first, each new batch stored with its
    picks' probabilities and maps) and a listener of its rounds and phases: it uses only the loop's public calls.
    """

    def __init__(self, dataset: InspectionDataset, root: str | Path, strategy: Strategy,
                 model_factory: Callable, train: TrainSettings, loop_settings: LoopSettings,
                 stopping: StoppingCriterion, criteria: Mapping[str, StoppingCriterion], settings: LabelSettings,
                 listeners: Sequence = (), tracker=None, features=None, initial_strategy: Strategy | None = None,
                 pretrained_backbone: str | None = None, cam_settings: CamSettings | None = None):
        if not dataset.files:
            raise ValueError(f"dataset {dataset.name!r} is not read from image files: a session labels files "
                             "(use dataset=folder dataset.root=DIR, or elpv, ksdd, ksdd2)")
        self.settings, self.root = settings, Path(root).resolve()
        self.dir = Path(settings.session_dir)
        self.store = LabelStore(self.dir / "labels.sqlite3")
        self.paths = [self._relative(f) for f in dataset.files]
        ids, self.problems = self.store.register({p: file_sha256(self.root / p) for p in self.paths})
        for line in self.problems:
            log.warning("alflow label: %s", line)
        self.store.set_meta("root", str(self.root))
        self.image_id = [ids[p] for p in self.paths]  # dataset index -> image id
        self.index_of = {i: k for k, i in enumerate(self.image_id)}  # image id -> dataset index
        # The person is the oracle: the dataset's own labels are never read (zeros; the audit's answers later).
        self.dataset = InspectionDataset(dataset.name, dataset.images, torch.zeros(len(dataset), dtype=torch.int64),
                                         list(self.paths), files=list(dataset.files))
        state_file = self.dir / "loop_state.pt"
        state = load_state(state_file)
        if state is not None:  # the loop's state must describe these images (OtherDataError, a ValueError)
            check_same_data(state_file, state, data_fingerprint(self.dataset, with_labels=False),
                            "label them in a new label.session_dir (this one's labels stay in its store)")
        self.strategy, self.model_factory, self.train = strategy, model_factory, train
        self.features, self.initial_strategy, self.pretrained_backbone = features, initial_strategy, pretrained_backbone
        self.cam_settings = cam_settings
        self.loop_settings, self.stopping, self.criteria = loop_settings, stopping, dict(criteria)
        self.listeners, self.tracker = list(listeners), tracker
        self.history: list[RoundRecord] = []
        self.phase, self.phase_round, self.phase_since = "starting", 0, time.time()
        self.error: str | None = None
        self.loop: AcquisitionLoop | None = None  # built by the worker once the audit sample is labeled
        self.done = ""
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._cams: dict[int, torch.Tensor] = {}
        self._load_cams()
        self.thread = threading.Thread(target=self._run, name="alflow-label-worker", daemon=True)

    def _relative(self, file: str) -> str:
        """``file``'s path under the root as the dataset lists it, links not resolved: a linked sub-folder
        (``good/batch2`` -> elsewhere) keeps its name, ``good/batch2/x.png``. The root may be reached through
        a link itself (``self.root`` is resolved): the leading folders of ``file`` that are the root count
        then. ValueError naming both for a file outside the root or a path that leaves it by ``..``."""
        path = Path(file).absolute()
        splits = [(Path(*path.parts[:n]), path.parts[n:]) for n in range(1, len(path.parts))
                  if ".." not in path.parts[n:]]
        rest = next((r for base, r in splits if base == self.root), None)  # no link to the root: no disk access
        if rest is None:
            rest = next((r for base, r in splits if base.resolve() == self.root), None)
        if rest is None:
            raise ValueError(f"image file {file} is not under dataset.root {self.root}")
        return "/".join(rest)

    # ---- the worker ----

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()

    def notify(self) -> None:
        """Something changed in the store (a submit, an import): wake the worker."""
        self._wake.set()

    def wait(self, seconds: float = 1.0) -> None:
        """Wait for a notify (or poll: another process may write to the store); SessionClosed on close."""
        self._wake.wait(seconds)
        self._wake.clear()
        if self._closed.is_set():
            raise SessionClosed()

    def set_phase(self, phase: str, round_index: int) -> None:
        if (phase, round_index) != (self.phase, self.phase_round):
            self.phase, self.phase_round, self.phase_since = phase, round_index, time.time()

    def _run(self) -> None:
        try:
            val = self._audit()
            loop = self.loop = self._build_loop(val)
            while True:
                self._sync_pool(loop)
                reason = loop.why_stop()  # the experiments' rules: pool exhausted, al.max_rounds, stopping.*
                if reason:
                    self.done = "every image of the pool is labeled" if reason == "pool exhausted" else reason
                    self.set_phase(f"finished: {self.done}", len(loop.history))
                    return
                loop.step()
        except SessionClosed:
            return
        except Exception as exc:  # noqa: BLE001 - shown on the page and logged; the labels are safe in the store
            self.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.set_phase(f"failed: {self.error}", self.phase_round)
            log.error("alflow label: the model update failed (every label is stored): %s\n%s", self.error,
                      traceback.format_exc())

    def _audit(self) -> torch.Tensor:
        """The audit sample's answered dataset indices (waiting for them to be submitted first)."""
        n = min(self.settings.audit_size, len(self.dataset))
        if n == 0:
            return torch.empty(0, dtype=torch.int64)
        if not self.store.has_batch(AUDIT_ROUND):
            generator = torch.Generator().manual_seed(SeedStreams(self.loop_settings.seed).audit())
            drawn = torch.randperm(len(self.dataset), generator=generator)[:n]
            self.store.add_batch(AUDIT_ROUND, "audit", [(self.image_id[i], None, None) for i in drawn.tolist()],
                                 "none")
        while not self.store.round_complete(AUDIT_ROUND):
            self.set_phase("waiting for the audit sample's labels", AUDIT_ROUND)
            self.wait()
        answered = [(self.index_of[item.image_id], VALUE[item.label]) for item in self.store.batch(AUDIT_ROUND)
                    if item.image_id in self.index_of and VALUE[item.label] >= 0]
        val = torch.tensor([i for i, _ in answered], dtype=torch.int64)
        self.dataset.labels[val] = torch.tensor([y for _, y in answered], dtype=torch.int64)
        return val

    def _build_loop(self, val: torch.Tensor) -> AcquisitionLoop:
        audit = {self.index_of[item.image_id] for item in self.store.batch(AUDIT_ROUND)
                 if item.image_id in self.index_of}
        pool = torch.tensor([i for i in range(len(self.dataset)) if i not in audit], dtype=torch.int64)
        split = FoldSplit(test=torch.empty(0, dtype=torch.int64), val=val, pool=pool)
        state_path = self.dir / "loop_state.pt"  # checked against the data when the session opened
        loop = AcquisitionLoop(self.dataset, split, self.strategy, self.model_factory, self.train, self.loop_settings,
                               stopping=self.stopping, oracle=HumanOracle(self), listeners=[*self.listeners, self],
                               log_prefix="label", state_path=state_path, features=self.features,
                               initial_strategy=self.initial_strategy, pretrained_backbone=self.pretrained_backbone,
                               cam_settings=self.cam_settings, batches=self)
        state = load_state(state_path)
        if state is not None:  # the pool comes from the store (_sync_pool), the model and history from the state
            loop.restore(state, keep_pool=True)
            self.history = list(state.history)
            log.info("alflow label: resumed after round %d", len(state.history))
        return loop

    # ---- the loop's batch source and phases ----

    def stored(self, round_index: int) -> Selection | None:
        """Round ``round_index``'s batch as stored (a restarted session shows the same batch), or None."""
        stored = [item for item in self.store.batch(round_index) if item.image_id in self.index_of]
        if not stored:
            return None
        return Selection(torch.tensor([self.index_of[item.image_id] for item in stored], dtype=torch.int64),
                         torch.tensor([math.nan if item.score is None else item.score for item in stored],
                                      dtype=torch.float64))

    def selected(self, round_index: int, selection: Selection, picker: ModelVersion | None) -> None:
        """Store a new batch, with each pick's defect probability and GradCAM map when a model picked it."""
        probs = [None] * len(selection.indices)
        if picker is not None:
            outputs = picker.score(self.dataset.images, selection.indices, frozenset({"probs", "cams"}))
            probs = outputs.probs[:, 1].tolist()
            self.save_cams(round_index, selection.indices, outputs.cams)
        self.store.add_batch(round_index, "query",
                             [(self.image_id[int(i)], None if math.isnan(sc) else float(sc), p)
                              for i, sc, p in zip(selection.indices.tolist(), selection.scores.tolist(), probs)],
                             model_version_name(len(self.history)))
        self.notify()

    def on_phase(self, phase: str, round_index: int) -> None:
        self.set_phase(phase, round_index)

    def _sync_pool(self, loop: AcquisitionLoop) -> None:
        """Bring the pool up to the store: labels of rounds already trained (after a restart), imports,
        and corrections of submitted labels (the audit's too)."""
        position = {int(v): p for p, v in enumerate(loop.pool.indices.tolist())}
        for row in self.store.submitted_labels(max_round=len(loop.history)):
            idx = self.index_of.get(row["image_id"])
            value = VALUE.get(row["label"], -1)
            if idx is None or value < 0:
                continue
            if row["kind"] == "audit":
                if idx in set(loop.split.val.tolist()):
                    self.dataset.labels[idx] = value
                continue
            p = position.get(idx)
            if p is None:
                continue
            target = torch.tensor([idx])
            if loop.pool.labeled_round[p] < 0:
                round_index = row["round"] if row["kind"] == "query" else len(loop.history)
                loop.pool.mark_labeled(target, round_index, torch.tensor([value]))
            elif int(loop.pool.revealed[p]) != value:
                loop.pool.relabel(target, torch.tensor([value]))

    def on_round(self, record: RoundRecord, rows: list[SelectionRow]) -> None:
        self.history.append(record)
        if self.tracker is not None:
            status = self.status()
            rate = status["labels_per_hour"]
            self.tracker.log_metrics({
                "label/labeled": status["labeled"], "label/defects_found": status["defects"],
                "label/unsure": status["unsure"], "label/audit_auroc": record.val_auroc,
                "label/labels_per_hour": math.nan if rate is None else rate,
                "label/expected_defects_left": record.expected_defects_left,
                "label/round_seconds": record.seconds}, step=record.n_labeled)

    def seconds_to_next_batch(self) -> list[float]:
        """Per round after the first: seconds from the last submit of a batch to the next batch stored."""
        rows = self.store.query("""SELECT round, MIN(created) AS created, MAX(submitted) AS submitted FROM batches
                                   WHERE kind = 'query' GROUP BY round ORDER BY round""")
        return [b["created"] - a["submitted"] for a, b in zip(rows, rows[1:]) if a["submitted"] is not None]

    # ---- GradCAM maps of the picks ----

    def save_cams(self, r: int, indices: torch.Tensor, cams: torch.Tensor) -> None:
        maps = {self.image_id[int(i)]: cam[0].clone() for i, cam in zip(indices.tolist(), cams)}
        path = self.dir / "cams" / f"round_{r:04d}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(maps, path)
        self._cams.update(maps)

    def _load_cams(self) -> None:
        for path in sorted((self.dir / "cams").glob("round_*.pt")):
            self._cams.update(torch.load(path, map_location="cpu"))

    def cam(self, image_id: int) -> torch.Tensor | None:
        """The GradCAM map (S x S, in [0, 1]) of the model that picked ``image_id``; None in round 0."""
        return self._cams.get(image_id)

    # ---- status ----

    def status(self) -> dict:
        """What the status panel shows; numbers not known yet are None."""
        counts = {r["label"]: r["n"] for r in self.store.query(
            "SELECT label, COUNT(*) AS n FROM labels l JOIN images i USING (image_id) WHERE i.status = 'ok' "
            "AND label IS NOT NULL GROUP BY label")}
        timing = self.store.query("SELECT COUNT(*) AS n, SUM(seconds) AS s FROM history WHERE source = 'page' "
                                  "AND label IS NOT NULL AND seconds > 0")[0]
        history = list(self.history)
        x = [float(r.n_labeled) for r in history]
        y = [float(r.defects_found) for r in history]
        knee = knee_point(x, y, 1.0, curve="concave", direction="increasing") if len(x) >= 3 else None
        last = history[-1] if history else None
        audited = self.loop is not None and len(self.loop.split.val) > 0
        audit_pending = self.loop is None and self.settings.audit_size > 0
        pool = len(self.dataset) - (min(self.settings.audit_size, len(self.dataset)) if self.settings.audit_size else 0)
        defects = counts.get("defect", 0)
        verdicts = []
        for name, criterion in self.criteria.items():
            what, never = criterion_words(name, criterion, pool, audited, audit_pending)
            judged = not (name in NEEDS_AUDIT and not audited)
            stop = judged and bool(history) and criterion.should_stop(history)
            verdicts.append({"name": name, "stop": stop, "never": never, "what": what,
                             "why": f"{'would stop now' if stop else 'go on'}: {what}"
                                    + (f"; {never}" if never else "")})
        answer = stop_line(history, recall_rule(self.stopping, self.criteria), defects, self.done)
        return {
            "phase": self.phase, "phase_round": self.phase_round, "phase_seconds": time.time() - self.phase_since,
            "open_round": self.store.open_round(), "rounds": len(history), "error": self.error, "done": self.done,
            "labeled": counts.get("defect", 0) + counts.get("good", 0), "defects": counts.get("defect", 0),
            "unsure": counts.get("unsure", 0), "pool": len(self.dataset),
            "expected_defects_left": None if last is None or math.isnan(last.expected_defects_left)
            else round(last.expected_defects_left, 1),
            "audit_auroc": None if last is None or math.isnan(last.val_auroc) else round(last.val_auroc, 3),
            "labels_per_hour": round(3600 * timing["n"] / timing["s"]) if timing["s"] else None,
            "curve": list(zip(x, y)), "knee": knee, "verdicts": verdicts, "may_stop": answer,
            "problems": list(self.problems),
            "defects_left_words": None if last is None or math.isnan(last.expected_defects_left)
            else f"about {about(last.expected_defects_left)}",
            "last_round_seconds": round(last.seconds, 1) if last else None,
            "seconds_to_next_batch": [round(v, 2) for v in self.seconds_to_next_batch()],
        }
