"""Label Studio interop: the open batch as tasks with predictions, and a JSON export of choices read back.

Formats as Label Studio documents them (labelstud.io/guide/task_format): a task is
``{"data": {"image": URL}, "predictions": [{"model_version", "score", "result": [...]}]}``; an
export is a list of tasks, each with ``"annotations": [{"result": [{"type": "choices", "value":
{"choices": ["Defect"]}, ...}], "was_cancelled", "lead_time", "completed_by", ...}]``. The labeling
config these tasks expect: ``<Image name="image" value="$image"/><Choices name="choice"
toName="image"><Choice value="Defect"/><Choice value="Good"/><Choice value="Unsure"/></Choices>``.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from alflow.label.store import LABELS, BadRequest, LabelStore, NotFound, file_sha256

CHOICE = {"defect": "Defect", "good": "Good", "unsure": "Unsure"}
FROM_NAME, TO_NAME = "choice", "image"


def write_tasks(store: LabelStore, out: str | Path, base_url: str = "/files/") -> int:
    """The open batch (every image not yet submitted) as Label Studio tasks in ``out``; each carries
    the session's ``alflow_image_id`` and ``path`` and, once a model has been trained, a prediction
    (the more likely class, that class's probability as ``score``: a "Good" prediction scores 1 - the defect
    probability; the model version). Returns the count.
    BadRequest when no batch is open."""
    r = store.open_round()
    if r is None:
        raise BadRequest("no batch is open: start the session (alflow label ...) so it selects one")
    tasks = []
    for item in store.batch(r):
        if item.submitted is not None:
            continue
        task = {"data": {"image": f"{base_url}{item.path}", "path": item.path, "alflow_image_id": item.image_id,
                         "rank": item.rank + 1}}
        if item.prob is not None:
            chosen = "defect" if item.prob >= 0.5 else "good"
            score = item.prob if chosen == "defect" else 1.0 - item.prob
            task["predictions"] = [{"model_version": item.model_version, "score": round(score, 6),
                                    "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                                                "value": {"choices": [CHOICE[chosen]]}}]}]
        tasks.append(task)
    Path(out).write_text(json.dumps(tasks, indent=1))
    return len(tasks)


UPLOAD = "/data/upload/"  # Label Studio's uploaded files: /data/upload/<project>/<8 hex>-<file name>


def upload_dirs() -> list[Path]:
    """Where Label Studio keeps uploaded files (``$LABEL_STUDIO_BASE_DATA_DIR`` or its default data folder,
    then ``media/upload/<project>/``): read only to tell apart images with the same file name."""
    import os

    base = os.environ.get("LABEL_STUDIO_BASE_DATA_DIR") or str(Path.home() / ".local" / "share" / "label-studio")
    return [Path(base) / "media" / "upload"]


def _image_of(store: LabelStore, task: dict, near: Path) -> int:
    """The session's image id for ``task``: ``data.path`` (alflow's own tasks), a local-storage ``?d=`` or
    ``/files/`` URL (a path under dataset.root), or a Label Studio upload URL, matched by its file name (the
    part after the first '-' of the upload prefix) and, when several images have that name, by the sha256
    of the uploaded file (looked for beside the export file ``near`` and in Label Studio's upload folder)."""
    data = task.get("data") or {}
    if "path" in data:
        return store.id_of(str(data["path"]))
    url = str(data.get("image", ""))
    parsed = urlparse(url)
    if "d" in parse_qs(parsed.query):  # Label Studio local storage: /data/local-files/?d=relative/path
        return store.id_of(parse_qs(parsed.query)["d"][0])
    marker = "/files/"
    if marker in parsed.path:
        return store.id_of(unquote(parsed.path.split(marker, 1)[1]))
    if UPLOAD in parsed.path:
        return _uploaded(store, task, unquote(parsed.path.split(UPLOAD, 1)[1]), near)
    raise BadRequest(f"task {task.get('id')}: cannot tell which image {url!r} is (no data.path, no /files/, "
                     "?d= or /data/upload/ URL)")


def _uploaded(store: LabelStore, task: dict, tail: str, near: Path) -> int:
    """``tail``: ``<project>/<prefix>-<name>`` of an upload URL."""
    stored = tail.rsplit("/", 1)[-1]
    name = stored.split("-", 1)[1] if "-" in stored else stored
    rows = [r for r in store.query("SELECT image_id, path, sha256 FROM images WHERE status = 'ok'")
            if r["path"].rsplit("/", 1)[-1] == name]
    if len(rows) == 1:
        return rows[0]["image_id"]
    if not rows:
        raise NotFound(f"task {task.get('id')}: the uploaded file {stored!r} is {name!r}, which is not the name "
                       "of any image of this session")
    places = [near / stored, near / tail, *(d / tail for d in upload_dirs())]
    found = next((p for p in places if p.is_file()), None)
    if found is None:
        raise BadRequest(f"task {task.get('id')}: {len(rows)} images of this session are named {name!r} "
                         f"({', '.join(r['path'] for r in rows[:5])}) and the uploaded file {stored!r} is not "
                         f"found to compare contents (looked in {', '.join(str(p) for p in places)}): copy it "
                         "beside the export file")
    digest = file_sha256(found)
    same = [r for r in rows if r["sha256"] == digest]
    if not same:
        raise NotFound(f"task {task.get('id')}: the uploaded file {found} has the contents of none of this "
                       f"session's images named {name!r}")
    return same[0]["image_id"]


def _choice(task: dict) -> tuple[str, float, str] | None:
    """The label of the task's latest annotation that was not cancelled, with its lead time and author."""
    annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    for annotation in reversed(annotations):
        for result in annotation.get("result") or []:
            if result.get("type") == "choices":
                chosen = (result.get("value") or {}).get("choices") or []
                if len(chosen) != 1 or str(chosen[0]).lower() not in LABELS:
                    raise BadRequest(f"task {task.get('id')}: choices {chosen} are not one of "
                                     f"{', '.join(CHOICE.values())}")
                return (str(chosen[0]).lower(), float(annotation.get("lead_time") or 0.0),
                        str(annotation.get("completed_by", "labelstudio")))
    return None


def import_export(store: LabelStore, path: str | Path, inspector: str) -> dict[str, int]:
    """Read a Label Studio JSON export (a list of tasks) into the session; returns counts per outcome
    (``labeled``, ``relabeled``, ``unchanged``, ``added``: outside any batch, joins the labeled set at
    the next round; ``no annotation``). All or nothing: the whole file is checked first (BadRequest or
    NotFound naming the task for an unknown image or an unknown choice), then every label is written in
    one SQLite transaction (a label a submitted image cannot take rolls back every one)."""
    path = Path(path)
    tasks = json.loads(path.read_text())
    if not isinstance(tasks, list):
        raise BadRequest(f"{path}: a Label Studio JSON export is a list of tasks, got {type(tasks).__name__}")
    planned = []
    for task in tasks:
        if not isinstance(task, dict):
            raise BadRequest(f"{path}: every task must be an object, got {type(task).__name__}")
        choice = _choice(task)
        planned.append((_image_of(store, task, path.parent), choice))
    round_index = (store.query("SELECT MAX(round) AS r FROM batches")[0]["r"] or 0)
    writes = [(image_id, label, seconds, f"{inspector} (labelstudio {author})")
              for image_id, choice in planned if choice is not None for label, seconds, author in [choice]]
    counts: dict[str, int] = {}
    for outcome in store.import_labels(writes, round_index) + ["no annotation"] * (len(planned) - len(writes)):
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
