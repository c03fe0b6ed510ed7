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

from alflow.label.store import LABELS, BadRequest, LabelStore

CHOICE = {"defect": "Defect", "good": "Good", "unsure": "Unsure"}
FROM_NAME, TO_NAME = "choice", "image"


def write_tasks(store: LabelStore, out: str | Path, base_url: str = "/files/") -> int:
    """The open batch (every image not yet submitted) as Label Studio tasks in ``out``; each carries
    the session's ``alflow_image_id`` and ``path`` and, once a model has been trained, a prediction
    (the more likely class, its defect probability as ``score``, the model version). Returns the count.
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
            choice = CHOICE["defect" if item.prob >= 0.5 else "good"]
            task["predictions"] = [{"model_version": item.model_version, "score": item.prob,
                                    "result": [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                                                "value": {"choices": [choice]}}]}]
        tasks.append(task)
    Path(out).write_text(json.dumps(tasks, indent=1))
    return len(tasks)


def _path_of(task: dict) -> str:
    data = task.get("data") or {}
    if "path" in data:
        return str(data["path"])
    url = str(data.get("image", ""))
    parsed = urlparse(url)
    if "d" in parse_qs(parsed.query):  # Label Studio local storage: /data/local-files/?d=relative/path
        return parse_qs(parsed.query)["d"][0]
    marker = "/files/"
    if marker in parsed.path:
        return unquote(parsed.path.split(marker, 1)[1])
    raise BadRequest(f"task {task.get('id')}: cannot tell which image {url!r} is (no data.path, no /files/ URL)")


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
    the next round; ``no annotation``). The whole file is checked before anything is written:
    BadRequest naming the task for an unknown image or an unknown choice."""
    tasks = json.loads(Path(path).read_text())
    if not isinstance(tasks, list):
        raise BadRequest(f"{path}: a Label Studio JSON export is a list of tasks, got {type(tasks).__name__}")
    planned = []
    for task in tasks:
        choice = _choice(task)
        planned.append((store.id_of(_path_of(task)), choice))
    counts: dict[str, int] = {}
    round_index = (store.query("SELECT MAX(round) AS r FROM batches")[0]["r"] or 0)
    for image_id, choice in planned:
        if choice is None:
            outcome = "no annotation"
        else:
            label, seconds, author = choice
            outcome = store.import_label(image_id, label, round_index, inspector=f"{inspector} (labelstudio {author})",
                                         seconds=seconds)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
