"""The session's durable label store: one SQLite file in the session folder.

Every write is one transaction committed before the request that made it is answered (WAL
journal, ``synchronous=FULL``), so a label the page was told about survives a killed server
or a power cut. Images are known by their path relative to ``dataset.root`` and the sha256 of
their bytes: a file replaced under the same name, or a labeled file that vanished, is marked and
reported, never given another image's label. Every change of a label is appended to
``history`` (corrections keep the old value). Two tabs on one session lease the images they
show (``leases``) and every write names the version it changes: a stale write is a
``Conflict`` (HTTP 409), never a silent overwrite.

Tables: ``meta`` (key, value), ``images`` (image_id, path, sha256, status), ``batches``
(round, rank, image_id, kind, score, prob, model_version, created, submitted), ``labels``
(the current label per image), ``history`` (every write), ``leases`` (image_id, tab, expires).
Round -1 is the audit sample; kind ``import`` rows are labels brought in from Label Studio.
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

LABELS = ("defect", "good", "unsure")
VALUE = {"defect": 1, "good": 0, "unsure": -1}  # what the oracle reveals (-1: left unanswered)
AUDIT_ROUND = -1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (image_id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT UNIQUE NOT NULL,
    sha256 TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'ok');
CREATE TABLE IF NOT EXISTS batches (round INTEGER NOT NULL, rank INTEGER NOT NULL, image_id INTEGER NOT NULL,
    kind TEXT NOT NULL, score REAL, prob REAL, model_version TEXT NOT NULL, created REAL NOT NULL,
    submitted REAL, PRIMARY KEY (round, image_id));
CREATE TABLE IF NOT EXISTS labels (image_id INTEGER PRIMARY KEY, label TEXT, version INTEGER NOT NULL,
    inspector TEXT NOT NULL, time REAL NOT NULL, seconds REAL NOT NULL, round INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS history (id INTEGER PRIMARY KEY AUTOINCREMENT, image_id INTEGER NOT NULL, label TEXT,
    previous TEXT, version INTEGER NOT NULL, inspector TEXT NOT NULL, tab TEXT NOT NULL, time REAL NOT NULL,
    seconds REAL NOT NULL, round INTEGER NOT NULL, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS leases (image_id INTEGER PRIMARY KEY, tab TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tabs (tab TEXT PRIMARY KEY, seen REAL NOT NULL);
"""


class Conflict(Exception):
    """A write that would overwrite what another tab or inspector did, or repeat a finished action (HTTP 409)."""


class BadRequest(ValueError):
    """A request naming something the session does not have, or an action not allowed now (HTTP 400/404)."""


class NotFound(BadRequest):
    """An image id or path that is not one of the session's images (HTTP 404)."""


@dataclass(frozen=True)
class BatchItem:
    round: int
    rank: int
    image_id: int
    path: str
    kind: str
    score: float | None
    prob: float | None
    model_version: str
    submitted: float | None
    label: str | None
    version: int


def round_words(round_index: int) -> str:
    """A round as the page names it: "the audit sample", "round 1" (round 0 stored)."""
    return "the audit sample" if round_index == AUDIT_ROUND else f"round {round_index + 1}"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LabelStore:
    """The label store in ``path`` (created with its tables when missing). Thread-safe: one connection
    per thread, and every write an ``IMMEDIATE`` transaction, so two processes (the server and an
    ``alflow label import``) can write to one store."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(SCHEMA)  # IF NOT EXISTS: idempotent; executescript commits by itself

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # committed = on disk, before the page is answered
            self._local.db = db
        return db

    class _Tx:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type, exc, tb) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _write(self) -> LabelStore._Tx:
        return self._Tx(self._db())

    def query(self, sql: str, args: Sequence = ()) -> list[sqlite3.Row]:
        return self._db().execute(sql, tuple(args)).fetchall()

    # ---- meta and images ----

    def meta(self, key: str, default: str | None = None) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def register(self, files: dict[str, str]) -> tuple[dict[str, int], list[str]]:
        """Reconcile the store with the files found now (``files``: relative path -> sha256).

        Returns image ids of the files usable now, and one line per problem: a known path whose
        bytes changed (its id is retired: its old label stays in the history and is not used), a
        labeled file that is gone, or gone and found under another name (reported, not relabeled:
        the file at the new path is a new, unlabeled image)."""
        problems: list[str] = []
        with self._write() as db:
            known = {r["path"]: r for r in db.execute("SELECT * FROM images")}
            labeled = {r["image_id"] for r in db.execute("SELECT image_id FROM labels WHERE label IS NOT NULL")}
            by_hash = {}
            for path, sha in files.items():
                by_hash.setdefault(sha, path)
            for path, row in known.items():
                if row["status"] != "ok":
                    continue
                if path not in files:
                    db.execute("UPDATE images SET status = 'missing' WHERE image_id = ?", (row["image_id"],))
                    if row["image_id"] in labeled:
                        moved = by_hash.get(row["sha256"])
                        problems.append(f"labeled file {path} is gone" + (f"; the same bytes are now at {moved}, "
                                                                          "which is treated as a new image"
                                                                          if moved else ""))
                elif files[path] != row["sha256"]:
                    db.execute("UPDATE images SET status = 'changed', path = ? WHERE image_id = ?",
                               (f"{path}#changed-{row['image_id']}", row["image_id"]))
                    if row["image_id"] in labeled:
                        problems.append(f"labeled file {path} was replaced (sha256 differs): its old label is kept "
                                        "in the history only and the new file is unlabeled")
            for path, sha in files.items():
                row = db.execute("SELECT status FROM images WHERE path = ?", (path,)).fetchone()
                if row is None:
                    db.execute("INSERT INTO images (path, sha256) VALUES (?, ?)", (path, sha))
                elif row["status"] == "missing":  # came back with the same bytes
                    db.execute("UPDATE images SET status = 'ok' WHERE path = ? AND sha256 = ?", (path, sha))
            ids = {r["path"]: r["image_id"] for r in db.execute("SELECT path, image_id FROM images "
                                                                "WHERE status = 'ok'")}
        return ids, problems

    def path_of(self, image_id: int) -> str:
        """The relative path of a usable image; NotFound for any other id."""
        rows = self.query("SELECT path FROM images WHERE image_id = ? AND status = 'ok'", (image_id,))
        if not rows:
            raise NotFound(f"image id {image_id} is not an image of this session")
        return rows[0]["path"]

    def id_of(self, path: str) -> int:
        rows = self.query("SELECT image_id FROM images WHERE path = ? AND status = 'ok'", (path,))
        if not rows:
            raise NotFound(f"{path!r} is not an image of this session (paths are relative to dataset.root)")
        return rows[0]["image_id"]

    # ---- batches ----

    def add_batch(self, round_index: int, kind: str, items: Sequence[tuple[int, float | None, float | None]],
                  model_version: str, submitted: bool = False) -> None:
        """Store a batch: ``items`` are (image_id, acquisition score, defect probability) in rank order."""
        now = time.time()
        with self._write() as db:
            db.executemany("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [(round_index, rank, image_id, kind, score, prob, model_version, now,
                             now if submitted else None) for rank, (image_id, score, prob) in enumerate(items)])

    def batch(self, round_index: int) -> list[BatchItem]:
        rows = self.query("""SELECT b.*, i.path, l.label, COALESCE(l.version, 0) AS version FROM batches b
                             JOIN images i USING (image_id) LEFT JOIN labels l USING (image_id)
                             WHERE b.round = ? AND b.kind != 'import' ORDER BY b.rank""", (round_index,))
        return [BatchItem(r["round"], r["rank"], r["image_id"], r["path"], r["kind"], r["score"], r["prob"],
                          r["model_version"], r["submitted"], r["label"], r["version"]) for r in rows]

    def has_batch(self, round_index: int) -> bool:
        return bool(self.query("SELECT 1 FROM batches WHERE round = ? AND kind != 'import' LIMIT 1", (round_index,)))

    def open_round(self) -> int | None:
        """The round whose batch is waiting for labels, or None."""
        rows = self.query("SELECT MIN(round) AS r FROM batches WHERE submitted IS NULL")
        return rows[0]["r"]

    def round_complete(self, round_index: int) -> bool:
        rows = self.query("SELECT COUNT(*) AS n, COUNT(submitted) AS done FROM batches WHERE round = ? "
                          "AND kind != 'import'", (round_index,))
        return rows[0]["n"] > 0 and rows[0]["n"] == rows[0]["done"]

    def submitted_labels(self, max_round: int | None = None) -> list[sqlite3.Row]:
        """(image_id, round, kind, label) of every submitted batch item (and import), rounds < ``max_round``."""
        sql = """SELECT b.image_id, b.round, b.kind, l.label FROM batches b JOIN images i USING (image_id)
                 LEFT JOIN labels l USING (image_id) WHERE b.submitted IS NOT NULL AND i.status = 'ok'"""
        args: list = []
        if max_round is not None:
            sql += " AND (b.round < ? OR b.kind = 'import')"
            args.append(max_round)
        return self.query(sql + " ORDER BY b.round, b.rank", args)

    # ---- leases ----

    def seen(self, tab: str) -> None:
        """``tab``'s page is open (it polls the status every second): its leases are live."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO tabs VALUES (?, ?)", (tab, time.time()))

    def claim(self, tab: str, round_index: int, limit: int | None, lease_seconds: float,
              gone_seconds: float = 3.0) -> list[int]:
        """Lease to ``tab`` the images of ``round_index``'s batch that are not submitted and not leased to
        another live tab (its own leases renewed first), at most ``limit``; returns their ids.

        A tab id is ``BROWSER_TAB`` (the page keeps BROWSER in localStorage, TAB in sessionStorage): another
        tab of the same browser that has not polled for ``gone_seconds`` was closed (or the browser was), so
        its images, labeled or not, are this tab's. ``limit`` None (the default ``label.claim_size``): every
        such image; a tab left with no unlabeled image (a second tab, or one that finished its part) takes
        the later half of the unlabeled images of the live tab holding the most, so two tabs or two
        browsers share a batch without configuration and together label all of it."""
        now = time.time()
        browser = tab.rsplit("_", 1)[0] if "_" in tab else None
        with self._write() as db:
            db.execute("DELETE FROM leases WHERE expires < ?", (now,))
            seen = {r["tab"]: r["seen"] for r in db.execute("SELECT tab, seen FROM tabs")}
            rows = db.execute(
                """SELECT b.image_id, le.tab, l.label FROM batches b LEFT JOIN leases le USING (image_id)
                   LEFT JOIN labels l USING (image_id)
                   WHERE b.round = ? AND b.kind != 'import' AND b.submitted IS NULL
                   ORDER BY (le.tab IS NULL OR le.tab != ?), b.rank""", (round_index, tab)).fetchall()

            def gone(other: str | None) -> bool:
                return (other is None or other == tab or
                        (browser is not None and other.rsplit("_", 1)[0] == browser and "_" in other
                         and seen.get(other, 0.0) < now - gone_seconds))

            free = [r["image_id"] for r in rows if gone(r["tab"])]
            mine = free if limit is None else free[:limit]
            if limit is None and all(r["label"] is not None for r in rows if r["image_id"] in set(mine)):
                held: dict[str, list[int]] = {}
                for r in rows:
                    if r["image_id"] not in set(free) and r["label"] is None:
                        held.setdefault(r["tab"], []).append(r["image_id"])
                if held:
                    most = max(held.values(), key=len)
                    mine = mine + most[len(most) - len(most) // 2:]
            db.executemany("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)",
                           [(i, tab, now + lease_seconds) for i in mine])
            released = set(free) - set(mine)
            db.executemany("DELETE FROM leases WHERE image_id = ? AND tab = ?", [(i, tab) for i in released])
            db.execute("INSERT OR REPLACE INTO tabs VALUES (?, ?)", (tab, now))
        return mine

    def orphaned(self, round_index: int | None, tab: str, gone_seconds: float = 3.0) -> int:
        """Images of the open batch held by a closed tab of ``tab``'s browser (see ``claim``): ``tab`` takes
        them on its next load."""
        if round_index is None or "_" not in tab:
            return 0
        now = time.time()
        rows = self.query("""SELECT le.tab, t.seen FROM batches b JOIN leases le USING (image_id)
                             LEFT JOIN tabs t USING (tab) WHERE b.round = ? AND b.submitted IS NULL
                             AND le.tab != ? AND le.expires >= ?""", (round_index, tab, now))
        browser = tab.rsplit("_", 1)[0]
        return sum(1 for r in rows if "_" in r["tab"] and r["tab"].rsplit("_", 1)[0] == browser
                   and (r["seen"] or 0.0) < now - gone_seconds)

    def taken(self, image_ids: Sequence[int], tab: str) -> list[int]:
        """Those of ``image_ids`` (a page's cards) that another tab now holds: the page drops them."""
        if not image_ids:
            return []
        marks = ",".join("?" * len(image_ids))
        rows = self.query(f"SELECT image_id FROM leases WHERE image_id IN ({marks}) AND tab != ? AND expires >= ?",
                          [*image_ids, tab, time.time()])
        return [r["image_id"] for r in rows]

    def shareable(self, round_index: int | None, tab: str) -> int:
        """Unlabeled images of the open batch that another tab holds, when one holds two or more (a tab
        that finished its part reloads and takes half of them)."""
        if round_index is None:
            return 0
        rows = self.query("""SELECT le.tab, COUNT(*) AS n FROM batches b JOIN leases le USING (image_id)
                             LEFT JOIN labels l USING (image_id)
                             WHERE b.round = ? AND b.submitted IS NULL AND l.label IS NULL AND le.tab != ?
                             AND le.expires >= ? GROUP BY le.tab""", (round_index, tab, time.time()))
        return max((r["n"] for r in rows if r["n"] >= 2), default=0)

    def release(self, tab: str) -> int:
        """End ``tab``'s leases (its page was closed): another page takes those images at once."""
        with self._write() as db:
            return db.execute("DELETE FROM leases WHERE tab = ?", (tab,)).rowcount

    def free(self, round_index: int | None) -> int:
        """Images of ``round_index``'s batch not submitted and not leased to a live page."""
        if round_index is None:
            return 0
        rows = self.query("""SELECT COUNT(*) AS n FROM batches b LEFT JOIN leases le USING (image_id)
                             WHERE b.round = ? AND b.kind != 'import' AND b.submitted IS NULL
                             AND (le.tab IS NULL OR le.expires < ?)""", (round_index, time.time()))
        return rows[0]["n"]

    def labels_of(self, image_ids: Sequence[int]) -> dict[int, tuple[str | None, int]]:
        """The current (label, version) of ``image_ids`` (unlabeled: (None, 0))."""
        marks = ",".join("?" * len(image_ids))
        rows = self.query(f"SELECT image_id, label, version FROM labels WHERE image_id IN ({marks})", image_ids)
        found = {r["image_id"]: (r["label"], r["version"]) for r in rows}
        return {i: found.get(i, (None, 0)) for i in image_ids}

    def leased_elsewhere(self, round_index: int, tab: str) -> int:
        rows = self.query("""SELECT COUNT(*) AS n FROM batches b JOIN leases le USING (image_id)
                             WHERE b.round = ? AND b.submitted IS NULL AND le.tab != ? AND le.expires >= ?""",
                          (round_index, tab, time.time()))
        return rows[0]["n"]

    @staticmethod
    def _name(db: sqlite3.Connection, image_id: int) -> str:
        """An image as a person knows it: its file name (path under dataset.root)."""
        row = db.execute("SELECT path FROM images WHERE image_id = ?", (image_id,)).fetchone()
        return row["path"] if row else f"image id {image_id}"

    def _names(self, db: sqlite3.Connection, image_ids: Sequence[int]) -> str:
        names = [self._name(db, i) for i in image_ids]
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    def _check_lease(self, db: sqlite3.Connection, image_id: int, tab: str, lease_seconds: float) -> None:
        now = time.time()
        row = db.execute("SELECT tab, expires FROM leases WHERE image_id = ?", (image_id,)).fetchone()
        if row is not None and row["tab"] != tab and row["expires"] >= now:
            raise Conflict(f"{self._name(db, image_id)} is open in another tab or inspector's page for "
                           f"{row['expires'] - now:.0f} s more; reload the page for your own images")
        open_item = db.execute("SELECT 1 FROM batches WHERE image_id = ? AND submitted IS NULL",
                               (image_id,)).fetchone()
        if open_item:
            db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?)", (image_id, tab, now + lease_seconds))

    # ---- labels ----

    def current(self, image_id: int) -> tuple[str | None, int]:
        rows = self.query("SELECT label, version FROM labels WHERE image_id = ?", (image_id,))
        return (rows[0]["label"], rows[0]["version"]) if rows else (None, 0)

    def set_label(self, image_id: int, label: str | None, expected_version: int, *, inspector: str, tab: str,
                  seconds: float, lease_seconds: float = 300.0, source: str = "page", claim: bool = True) -> int:
        """Write ``label`` (one of LABELS, or None to clear it) for ``image_id`` if its version is still
        ``expected_version``; returns the new version. Conflict when another write came first or another
        tab holds the image; NotFound for an image not in any batch of this session; BadRequest for a
        submitted image corrected to unsure or cleared (its round trained on a defect/good answer).
        ``claim=False`` (an import): no lease is checked or taken, so a page holding the image keeps it and
        shows the imported label."""
        with self._write() as db:
            return self._set(db, image_id, label, expected_version, inspector=inspector, tab=tab, seconds=seconds,
                             lease_seconds=lease_seconds, source=source, claim=claim)

    def _set(self, db: sqlite3.Connection, image_id: int, label: str | None, expected_version: int, *,
             inspector: str, tab: str, seconds: float, lease_seconds: float = 300.0, source: str = "page",
             claim: bool = True) -> int:
        """``set_label`` inside the caller's transaction."""
        if label is not None and label not in LABELS:
            raise BadRequest(f"label must be one of {', '.join(LABELS)}, got {label!r}")
        item = db.execute("""SELECT b.round, b.submitted FROM batches b JOIN images i USING (image_id)
                             WHERE b.image_id = ? AND i.status = 'ok' ORDER BY b.round DESC LIMIT 1""",
                          (image_id,)).fetchone()
        if item is None:
            raise NotFound(f"image id {image_id} is in no batch of this session: only the images shown "
                           "can be labeled")
        row = db.execute("SELECT label, version FROM labels WHERE image_id = ?", (image_id,)).fetchone()
        old, version = (row["label"], row["version"]) if row else (None, 0)
        if version != expected_version:
            raise Conflict(f"{self._name(db, image_id)} was changed since your page loaded it "
                           f"(now {old or 'unlabeled'}, "
                           f"version {version}; your page had version {expected_version}): reload the page "
                           "to see the current label before changing it")
        if item["submitted"] is not None and label not in ("defect", "good") and old in ("defect", "good"):
            raise BadRequest(f"{self._name(db, image_id)} was submitted as {old}: a correction must be defect "
                             "or good (unsure is for images of the open batch)")
        if claim:
            self._check_lease(db, image_id, tab, lease_seconds)
        now = time.time()
        db.execute("INSERT OR REPLACE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (image_id, label, version + 1, inspector, now, seconds, item["round"]))
        db.execute("INSERT INTO history (image_id, label, previous, version, inspector, tab, time, seconds, "
                   "round, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (image_id, label, old, version + 1, inspector, tab, now, seconds, item["round"], source))
        return version + 1

    def undo(self, image_id: int, expected_version: int, *, inspector: str, tab: str) -> tuple[str | None, int]:
        """Put back the label ``image_id`` had before its last write (recorded as a new write); returns
        (label, version). Same errors as ``set_label``; BadRequest when there is nothing to undo."""
        rows = self.query("SELECT previous FROM history WHERE image_id = ? AND version = ?",
                          (image_id, expected_version))
        if expected_version == 0 or not rows:
            raise BadRequest(f"{self.path_of(image_id)} has no label to undo at version {expected_version}")
        previous = rows[0]["previous"]
        return previous, self.set_label(image_id, previous, expected_version, inspector=inspector, tab=tab,
                                        seconds=0.0, source="undo")

    def submit(self, round_index: int, tab: str, image_ids: Iterable[int]) -> bool:
        """Mark ``image_ids`` of ``round_index``'s batch submitted; True when the whole batch is now.

        Conflict when they were submitted before (a double submit); BadRequest for an image not in
        that batch, one without a label, or a batch that would be finished without one defect or good
        answer (the model needs at least one label to learn from)."""
        ids = list(dict.fromkeys(image_ids))
        if not ids:
            raise BadRequest("nothing to submit: image_ids is empty")
        with self._write() as db:
            rows = {r["image_id"]: r for r in db.execute(
                "SELECT b.image_id, b.submitted, l.label FROM batches b LEFT JOIN labels l USING (image_id) "
                "WHERE b.round = ? AND b.kind != 'import'", (round_index,))}
            if not rows:
                raise NotFound(f"{round_words(round_index)} has no batch")
            strangers = [i for i in ids if i not in rows]
            if strangers:
                raise BadRequest(f"{self._names(db, strangers)} are not in the batch of {round_words(round_index)}")
            done = [i for i in ids if rows[i]["submitted"] is not None]
            if done:
                raise Conflict(f"this batch of {round_words(round_index)} was already submitted ({len(done)} "
                               f"image(s): {self._names(db, done)}); the labels are stored: nothing to do")
            unlabeled = [i for i in ids if rows[i]["label"] is None]
            if unlabeled:
                raise BadRequest(f"{len(unlabeled)} image(s) have no label yet ({self._names(db, unlabeled)}): "
                                 "d = defect, g = good, s = unsure")
            rest = [i for i in rows if i not in ids and rows[i]["submitted"] is None]
            if not rest and not any(r["label"] in ("defect", "good") for r in rows.values()):
                raise BadRequest(f"the batch of {round_words(round_index)} has no defect or good answer: label at "
                                 "least "
                                 "one image defect or good")
            now = time.time()
            db.executemany("UPDATE batches SET submitted = ? WHERE round = ? AND image_id = ?",
                           [(now, round_index, i) for i in ids])
            db.executemany("DELETE FROM leases WHERE image_id = ?", [(i,) for i in ids])
        return not rest

    def import_label(self, image_id: int, label: str, round_index: int, *, inspector: str, seconds: float) -> str:
        """One label from outside (Label Studio): ``import_labels`` of one."""
        return self.import_labels([(image_id, label, seconds, inspector)], round_index)[0]

    def import_labels(self, labels: Sequence[tuple[int, str, float, str]], round_index: int) -> list[str]:
        """Labels from outside (Label Studio): (image_id, label, seconds, inspector) each, all written in one
        transaction or none (any error rolls every one back). An image in a batch is labeled (not
        submitted: the page shows it; no claim is checked or taken); any other image joins the labeled
        set at ``round_index``. Returns what happened to each: ``unchanged``, ``labeled``, ``relabeled``,
        ``added``. BadRequest naming the image for a label a submitted image cannot take."""
        outcomes = []
        with self._write() as db:
            for image_id, label, seconds, inspector in labels:
                if label not in LABELS:
                    raise BadRequest(f"{self._name(db, image_id)}: label must be one of {', '.join(LABELS)}, "
                                     f"got {label!r}")
                row = db.execute("SELECT label, version FROM labels WHERE image_id = ?", (image_id,)).fetchone()
                current, version = (row["label"], row["version"]) if row else (None, 0)
                if db.execute("SELECT 1 FROM batches WHERE image_id = ?", (image_id,)).fetchone():
                    if current == label:
                        outcomes.append("unchanged")
                        continue
                    self._set(db, image_id, label, version, inspector=inspector, tab="import", seconds=seconds,
                              source="labelstudio", claim=False)
                    outcomes.append("relabeled" if current else "labeled")
                    continue
                now = time.time()
                db.execute("INSERT INTO batches VALUES (?, ?, ?, 'import', NULL, NULL, 'import', ?, ?)",
                           (round_index, 0, image_id, now, now))
                self._set(db, image_id, label, version, inspector=inspector, tab="import", seconds=seconds,
                          source="labelstudio", claim=False)
                outcomes.append("added")
        return outcomes

    def labels(self) -> list[sqlite3.Row]:
        """Every image's current label with its batch row (last batch it was in): the export's rows.
        ``source``: the history's source of the write that gave the current label (page, undo,
        labelstudio); ``corrected_from``/``corrected_time``: the value and time of the last correction, a
        write that changed a label after its batch was submitted (None when it never was)."""
        return self.query("""SELECT l.*, i.path, i.sha256, b.score, b.prob, b.model_version, b.kind,
                                 (SELECT h.source FROM history h WHERE h.image_id = l.image_id
                                  AND h.version = l.version ORDER BY h.id DESC LIMIT 1) AS source,
                                 c.previous AS corrected_from, c.time AS corrected_time
                             FROM labels l JOIN images i USING (image_id)
                             LEFT JOIN batches b ON b.image_id = l.image_id AND b.round = l.round
                             LEFT JOIN history c ON c.id = (
                                 SELECT MAX(h.id) FROM history h JOIN batches hb
                                     ON hb.image_id = h.image_id AND hb.round = h.round
                                 WHERE h.image_id = l.image_id AND h.previous IS NOT NULL AND h.label IS NOT NULL
                                 AND h.previous != h.label AND hb.submitted IS NOT NULL AND h.time > hb.submitted)
                             WHERE l.label IS NOT NULL AND i.status = 'ok' ORDER BY l.time""")

    def history(self, image_id: int | None = None) -> list[sqlite3.Row]:
        if image_id is None:
            return self.query("SELECT * FROM history ORDER BY id")
        return self.query("SELECT * FROM history WHERE image_id = ? ORDER BY id", (image_id,))
