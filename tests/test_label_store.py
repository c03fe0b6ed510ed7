"""The label store: durable per write (a SIGKILL loses no acknowledged label), versions and leases
(no silent overwrite, no image in two tabs), history of corrections, changed and renamed files,
and export / import (CSV, a class-folder tree dataset=folder trains on, Label Studio)."""
import csv
from datetime import datetime, timezone
import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from label_helpers import write_folder

from conftest import folder_dataset
from alflow.label.export import COLUMNS, export_csv
from alflow.label.labelstudio import import_export, write_tasks
from alflow.label.store import BadRequest, Conflict, LabelStore, NotFound, file_sha256
from conftest import checkout_env

FIXTURE = Path(__file__).parent / "data" / "labelstudio_export.json"


def registered(tmp_path, **kwargs):
    root = write_folder(tmp_path / "data", **kwargs)
    store = LabelStore(tmp_path / "session" / "labels.sqlite3")
    files = {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted(root.rglob("*.png"))}
    ids, problems = store.register(files)
    store.set_meta("root", str(root))
    return root, store, ids, problems


def test_every_acknowledged_label_survives_a_sigkill(tmp_path):
    root, store, ids, _ = registered(tmp_path, n_good=40, n_bad=0)
    store.add_batch(0, "query", [(i, None, None) for i in ids.values()], "untrained")
    writer = textwrap.dedent(f"""
        import sys
        from alflow.label.store import LabelStore
        store = LabelStore({str(store.path)!r})
        for image_id in {sorted(ids.values())!r}:
            store.set_label(image_id, "good", 0, inspector="w", tab="t", seconds=1.0)
            print(image_id, flush=True)   # acknowledged only after the commit returned
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True, env=checkout_env())
    acked = [int(proc.stdout.readline()) for _ in range(15)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reopened = LabelStore(store.path)
    for image_id in acked:
        assert reopened.current(image_id) == ("good", 1), image_id
    assert len(reopened.history()) >= len(acked)


def test_versions_leases_and_corrections(tmp_path):
    _, store, ids, _ = registered(tmp_path)
    a, b = ids["bad/000.png"], ids["good/000.png"]
    store.add_batch(0, "query", [(a, 0.9, 0.8), (b, 0.1, 0.2)], "round-1")
    assert sorted(store.claim("tab1", 0, 1, 60)) == [a]          # rank order, at most claim_size
    assert store.claim("tab2", 0, None, 60) == [b]               # never the image another tab holds
    with pytest.raises(Conflict, match="another tab"):
        store.set_label(a, "defect", 0, inspector="x", tab="tab2", seconds=1)
    assert store.set_label(a, "defect", 0, inspector="x", tab="tab1", seconds=2) == 1
    with pytest.raises(Conflict, match="version 1; your page had version 0"):
        store.set_label(a, "good", 0, inspector="x", tab="tab1", seconds=1)
    with pytest.raises(BadRequest, match="no label yet"):
        store.submit(0, "tab1", [a, b])
    store.set_label(b, "unsure", 0, inspector="y", tab="tab2", seconds=1)
    assert store.undo(b, 1, inspector="y", tab="tab2") == (None, 2)
    store.set_label(b, "good", 2, inspector="y", tab="tab2", seconds=1)
    assert store.submit(0, "tab1", [a]) is False
    with pytest.raises(Conflict, match="already submitted"):
        store.submit(0, "tab1", [a])
    assert store.submit(0, "tab2", [b]) is True and store.round_complete(0)
    with pytest.raises(BadRequest, match="must be defect or good"):
        store.set_label(a, "unsure", 1, inspector="x", tab="tab1", seconds=1)
    store.set_label(a, "good", 1, inspector="z", tab="tab3", seconds=1)   # a correction after submitting
    assert [h["label"] for h in store.history(a)] == ["defect", "good"]
    assert store.history(a)[-1]["previous"] == "defect"
    with pytest.raises(NotFound):
        store.set_label(999, "good", 0, inspector="x", tab="t", seconds=0)
    with pytest.raises(BadRequest, match="label must be one of"):
        store.set_label(a, "maybe", 2, inspector="x", tab="t", seconds=0)


def test_a_batch_with_no_defect_or_good_answer_is_refused(tmp_path):
    _, store, ids, _ = registered(tmp_path, n_good=2, n_bad=0)
    store.add_batch(0, "query", [(i, None, None) for i in ids.values()], "untrained")
    for i in ids.values():
        store.set_label(i, "unsure", 0, inspector="x", tab="t", seconds=1)
    with pytest.raises(BadRequest, match="at least one image defect or good"):
        store.submit(0, "t", list(ids.values()))


def test_replaced_and_renamed_files_are_reported_not_relabeled(tmp_path):
    root, store, ids, problems = registered(tmp_path, n_good=3, n_bad=2)
    assert problems == []
    store.add_batch(0, "query", [(i, None, None) for i in ids.values()], "untrained")
    for i in ids.values():
        store.set_label(i, "good", 0, inspector="x", tab="t", seconds=1)
    (root / "good" / "000.png").write_bytes((root / "bad" / "000.png").read_bytes())  # replaced
    (root / "good" / "001.png").rename(root / "good" / "moved.png")                 # renamed
    files = {p.relative_to(root).as_posix(): file_sha256(p) for p in sorted(root.rglob("*.png"))}
    new_ids, problems = store.register(files)
    assert any("good/000.png was replaced" in p for p in problems)
    assert any("good/001.png is gone" in p and "good/moved.png" in p for p in problems)
    assert new_ids["good/000.png"] != ids["good/000.png"]
    assert store.current(new_ids["good/000.png"]) == (None, 0)
    assert store.current(new_ids["good/moved.png"]) == (None, 0)
    assert store.current(new_ids["bad/001.png"]) == ("good", 1)        # untouched files keep their label
    with pytest.raises(NotFound):
        store.path_of(ids["good/000.png"])


def test_export_csv_and_a_tree_that_dataset_folder_trains_on(tmp_path):
    root, store, ids, _ = registered(tmp_path, n_good=4, n_bad=3)
    store.add_batch(0, "query", [(i, 0.5, 0.7) for i in ids.values()], "round-2")
    truth = {i: ("defect" if p.startswith("bad/") else "good") for p, i in ids.items()}
    for i, label in truth.items():
        store.set_label(i, label, 0, inspector="ann", tab="t", seconds=2.5)
    store.set_label(ids["good/003.png"], "unsure", 1, inspector="ann", tab="t", seconds=1)
    n, tree = export_csv(store, tmp_path / "out" / "labels.csv")
    rows = list(csv.DictReader((tmp_path / "out" / "labels.csv").open()))
    assert n == len(rows) == 7 and tuple(rows[0]) == COLUMNS
    assert {r["path"]: r["label"] for r in rows}["bad/000.png"] == "defect"
    assert {r["model_version"] for r in rows} == {"round-2"} and {r["round"] for r in rows} == {"1"}
    dataset = folder_dataset(tree, ["good"], image_size=32, cache_dir=None)
    assert len(dataset) == 6  # the unsure image is in the CSV only
    assert int(dataset.labels.sum()) == 3
    assert sorted(dataset.classes) == ["defect"] * 3 + ["good"] * 3


def test_label_studio_tasks_out_and_an_export_of_choices_in(tmp_path):
    _, store, ids, _ = registered(tmp_path, n_good=4, n_bad=2)
    store.add_batch(0, "query", [(ids["bad/000.png"], 0.4, 0.9), (ids["good/001.png"], 0.3, 0.1)], "round-3")
    n = write_tasks(store, tmp_path / "tasks.json")
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert n == 2 and tasks[0]["data"]["path"] == "bad/000.png"
    assert tasks[0]["predictions"][0] == {"model_version": "round-3", "score": 0.9, "result": [
        {"from_name": "choice", "to_name": "image", "type": "choices", "value": {"choices": ["Defect"]}}]}
    counts = import_export(store, FIXTURE, "team")
    assert counts == {"labeled": 2, "no annotation": 1}
    assert store.current(ids["bad/000.png"])[0] == "defect"
    assert store.current(ids["good/001.png"])[0] == "good"   # the cancelled annotation is ignored
    assert store.history(ids["good/001.png"])[-1]["seconds"] == 2.25
    assert store.current(ids["good/002.png"]) == (None, 0)


def test_an_import_naming_an_unknown_image_writes_nothing(tmp_path):
    _, store, ids, _ = registered(tmp_path, n_good=4, n_bad=2)
    bad = json.loads(FIXTURE.read_text())
    bad[1]["data"] = {"image": "/data/local-files/?d=../../etc/passwd"}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(NotFound, match="etc/passwd"):
        import_export(store, tmp_path / "bad.json", "team")
    assert store.labels() == []


def test_binding_beyond_loopback_needs_a_token(tmp_path):
    from test_label_session import label_settings

    with pytest.raises(ValueError, match="label.host=0.0.0.0 .*label.token"):
        label_settings(session_dir=str(tmp_path), host="0.0.0.0")
    assert label_settings(session_dir=str(tmp_path), host="0.0.0.0", token="t").token == "t"
    for port in (-1, 65536, 1.5, "8765"):  # 0 is allowed: a free port, chosen and printed
        with pytest.raises(ValueError, match="label.port must be an integer in 0..65535"):
            label_settings(session_dir=str(tmp_path), port=port)


@pytest.mark.slow  # three subprocesses: about 20 s here
def test_label_import_and_export_from_the_command_line(tmp_path):
    from conftest import run_alflow

    _, store, ids, _ = registered(tmp_path, n_good=4, n_bad=2)
    store.add_batch(0, "query", [(ids["bad/000.png"], 0.4, 0.9), (ids["good/001.png"], 0.3, 0.1)], "round-1")
    session = tmp_path / "session"
    proc = run_alflow(["label", "import", f"label.session_dir={session}", f"label.input={FIXTURE}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "labeled 2" in proc.stdout and "no annotation 1" in proc.stdout
    out = tmp_path / "labels.csv"
    proc = run_alflow(["label", "export", f"label.session_dir={session}", f"label.out={out}"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["path"]: r["label"] for r in csv.DictReader(out.open())}
    assert rows == {"bad/000.png": "defect", "good/001.png": "good"}
    missing = run_alflow(["label", "export", f"label.session_dir={tmp_path / 'nothing'}", f"label.out={out}"],
                         tmp_path)
    assert missing.returncode == 2 and "holds no session" in missing.stdout + missing.stderr


@pytest.mark.slow  # four subprocesses, a few seconds each
def test_label_export_needs_only_the_store_and_import_is_all_or_nothing_from_the_command_line(tmp_path):
    """``alflow label export`` imports neither torch nor MLflow (it took 10 s composing a whole job) and
    prints no MLflow hint; ``alflow label import`` refuses a file with one bad task in one line and writes
    nothing, while a page holds the batch."""
    from conftest import run_alflow

    _, store, ids, _ = registered(tmp_path, n_good=4, n_bad=2)
    store.add_batch(0, "query", [(ids["good/001.png"], 0.3, 0.1)], "round-1")
    store.set_label(ids["good/001.png"], "good", 0, inspector="ann", tab="t", seconds=1)
    store.submit(0, "t", [ids["good/001.png"]])
    store.add_batch(1, "query", [(ids["bad/000.png"], 0.4, 0.9)], "round-2")
    store.claim("a-tab", 1, None, 300)
    session, out = tmp_path / "session", tmp_path / "labels.csv"
    probe = textwrap.dedent(f"""
        import sys, time
        start = time.perf_counter()
        sys.argv = ["alflow", "label", "export", "label.session_dir={session}", "label.out={out}"]
        from alflow.cli import main
        main()
        print("heavy:", sorted(m for m in ("torch", "mlflow", "torchvision") if m in sys.modules))
        print("seconds:", round(time.perf_counter() - start, 2))
    """)
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                          env=checkout_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "heavy: []" in proc.stdout and "AUC" not in proc.stdout + proc.stderr
    assert "1 label(s)" in proc.stdout
    tasks = json.loads(FIXTURE.read_text())
    tasks[1]["annotations"][1]["result"][0]["value"]["choices"] = ["Unsure"]
    (tmp_path / "bad.json").write_text(json.dumps(tasks))
    bad = run_alflow(["label", "import", f"label.session_dir={session}", f"label.input={tmp_path / 'bad.json'}"],
                     tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-2000:]
    assert "good/001.png was submitted as good" in bad.stderr
    assert LabelStore(store.path).current(ids["bad/000.png"]) == (None, 0)
    good = run_alflow(["label", "import", f"label.session_dir={session}", f"label.input={FIXTURE}"], tmp_path)
    assert good.returncode == 0 and "labeled 1" in good.stdout, good.stderr[-2000:]
    assert "AUC" not in good.stdout + good.stderr


def test_a_good_prediction_scores_the_probability_of_good(tmp_path):
    _, store, ids, _ = registered(tmp_path, n_good=4, n_bad=2)
    store.add_batch(0, "query", [(ids["bad/000.png"], 0.4, 0.9), (ids["good/001.png"], 0.3, 0.1)], "round-3")
    write_tasks(store, tmp_path / "tasks.json")
    good = json.loads((tmp_path / "tasks.json").read_text())[1]["predictions"][0]
    assert good["result"][0]["value"]["choices"] == ["Good"] and good["score"] == pytest.approx(0.9)


def test_an_import_is_all_or_nothing_in_one_transaction(tmp_path):
    _, store, ids, _ = registered(tmp_path, n_good=4, n_bad=2)
    opened, done = ids["bad/000.png"], ids["good/001.png"]
    store.add_batch(0, "query", [(done, 0.3, 0.1)], "round-1")
    store.set_label(done, "good", 0, inspector="ann", tab="t", seconds=1)
    store.submit(0, "t", [done])
    store.add_batch(1, "query", [(opened, 0.4, 0.9)], "round-2")
    store.claim("a-tab", 1, None, 300)  # a page holds the open batch: an import takes no claim
    tasks = json.loads(FIXTURE.read_text())
    tasks[1]["annotations"][1]["result"][0]["value"]["choices"] = ["Unsure"]  # a submitted image cannot be unsure
    (tmp_path / "bad.json").write_text(json.dumps(tasks))
    before = [tuple(r) for r in store.history()]
    with pytest.raises(BadRequest, match="good/001.png was submitted as good"):
        import_export(store, tmp_path / "bad.json", "team")
    assert store.current(opened) == (None, 0)   # the first task, valid, was not written either
    assert [tuple(r) for r in store.history()] == before
    assert import_export(store, FIXTURE, "team") == {"labeled": 1, "unchanged": 1, "no annotation": 1}
    assert store.current(opened) == ("defect", 1)


def test_label_studio_upload_urls_are_matched_by_file_name_then_contents(tmp_path, monkeypatch):
    root, store, ids, _ = registered(tmp_path, n_good=4, n_bad=2)
    monkeypatch.setenv("LABEL_STUDIO_BASE_DATA_DIR", str(tmp_path / "ls"))
    store.add_batch(0, "query", [(i, 0.5, 0.5) for i in ids.values()], "round-1")

    def task(n, url, choice):
        return {"id": n, "data": {"image": url}, "annotations": [
            {"result": [{"type": "choices", "value": {"choices": [choice]}}], "was_cancelled": False}]}

    export = tmp_path / "export"
    export.mkdir()
    tasks = [task(1, "/data/upload/3/abc12345-002.png", "Good"),          # one image is named 002.png
             task(2, "/data/upload/3/0f1e2d3c-001.png", "Defect")]        # good/001.png and bad/001.png
    (export / "ls.json").write_text(json.dumps(tasks))
    with pytest.raises(BadRequest, match=r"task 2: 2 images of this session are named '001.png'"):
        import_export(store, export / "ls.json", "team")
    assert store.labels() == []
    upload = tmp_path / "ls" / "media" / "upload" / "3"
    upload.mkdir(parents=True)
    (upload / "0f1e2d3c-001.png").write_bytes((root / "bad" / "001.png").read_bytes())  # Label Studio's copy
    assert import_export(store, export / "ls.json", "team") == {"labeled": 2}
    assert store.current(ids["good/002.png"])[0] == "good" and store.current(ids["bad/001.png"])[0] == "defect"
    assert store.current(ids["good/001.png"]) == (None, 0)
    tasks = [task(3, "/data/upload/3/99999999-000.png", "Good")]
    (export / "ls.json").write_text(json.dumps(tasks))
    (export / "99999999-000.png").write_bytes((root / "good" / "003.png").read_bytes())  # beside the export
    with pytest.raises(NotFound, match="contents of none of this session's images named '000.png'"):
        import_export(store, export / "ls.json", "team")


def test_the_csv_says_each_labels_source_and_its_correction(tmp_path):
    _, store, ids, _ = registered(tmp_path, n_good=4, n_bad=2)
    a, b, c = ids["bad/000.png"], ids["good/000.png"], ids["good/001.png"]
    store.add_batch(0, "query", [(a, 0.5, 0.7), (b, 0.4, 0.3)], "round-1")
    store.set_label(a, "good", 0, inspector="ann", tab="t", seconds=1)
    store.set_label(a, "defect", 1, inspector="ann", tab="t", seconds=1)   # changed before submitting: no correction
    store.set_label(b, "defect", 0, inspector="ann", tab="t", seconds=1)
    store.submit(0, "t", [a, b])
    store.set_label(b, "good", 1, inspector="bob", tab="t2", seconds=0)     # corrected on the page's review
    store.add_batch(1, "query", [(c, 0.5, 0.5)], "round-2")
    tasks = [{"id": 1, "data": {"path": "good/001.png"},
              "annotations": [{"result": [{"type": "choices", "value": {"choices": ["Good"]}}]}]}]
    (tmp_path / "ls.json").write_text(json.dumps(tasks))
    import_export(store, tmp_path / "ls.json", "team")
    export_csv(store, tmp_path / "labels.csv")
    rows = {r["path"]: r for r in csv.DictReader((tmp_path / "labels.csv").open())}
    assert [(rows[p]["source"], rows[p]["corrected"], rows[p]["previous"], rows[p]["inspector"])
            for p in ("bad/000.png", "good/000.png", "good/001.png")] == [
        ("page", "no", "", "ann"), ("page", "yes", "defect", "bob"),
        ("import", "no", "", "team (labelstudio labelstudio)")]
    when = store.history(b)[-1]["time"]
    assert rows["good/000.png"]["corrected_time"] == datetime.fromtimestamp(when, timezone.utc).isoformat(
        timespec="seconds")
    assert rows["bad/000.png"]["corrected_time"] == ""


def test_tabs_share_a_batch_without_configuration(tmp_path):
    """claim_size None: the first tab takes the batch; a second tab (of the same browser or another) takes the
    later half of what the first has not labeled; a tab that finished its part takes half of what is left;
    a closed tab's images (it stopped polling) go to the next tab of its browser, labels and all."""
    _, store, ids, _ = registered(tmp_path)
    batch = sorted(ids.values())[:8]
    store.add_batch(0, "query", [(i, 0.5, 0.5) for i in batch], "round-1")
    one = store.claim("B_one", 0, None, 60)
    assert one == batch
    store.set_label(batch[0], "good", 0, inspector="x", tab="B_one", seconds=1)
    two = store.claim("B_two", 0, None, 60)                  # 7 unlabeled: the later 3 of them
    assert two == batch[5:]
    assert store.taken(batch, "B_one") == batch[5:]          # the first page drops them
    assert store.claim("B_one", 0, None, 60) == batch[:5]    # a reload keeps its own part
    assert store.shareable(0, "B_one") == 3
    assert store.claim("other-browser_x", 0, None, 60) == batch[3:5]  # another browser: half of the most held
    assert store.claim("B_one", 0, None, 60) == batch[:3]
    # B_two stops polling (closed without its beacon): a new tab of browser B takes its images at once,
    # another browser does not
    store.seen("B_one")
    with store._write() as db:
        db.execute("UPDATE tabs SET seen = 0 WHERE tab = 'B_two'")
    assert store.claim("B_new", 0, None, 60) == batch[5:]
    store.release("B_new")
    with store._write() as db:
        db.execute("UPDATE tabs SET seen = 0 WHERE tab = 'B_one'")
    assert store.claim("stranger_y", 0, None, 60) == batch[5:]  # free ones only: B_one's are not its
    store.set_label(batch[0], "good", 1, inspector="x", tab="B_one", seconds=1)  # B_one holds batch[:3] again
    assert store.orphaned(0, "B_third") == 3 and store.orphaned(0, "stranger_y") == 0
