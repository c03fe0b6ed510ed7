"""``alflow label`` on a dataset.root with a linked sub-folder (issue 23): every image the dataset lists is
served, keyed by its path as seen under the root (links not resolved), while the image routes still
refuse paths that leave the root by ``..`` or an absolute path. A real ``alflow label`` process."""
import http.client
import os
import signal
import sqlite3
import urllib.request

import pytest
from label_helpers import write_folder
from test_label_lock import Label, free_port, label_args, status

pytestmark = pytest.mark.slow


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)  # sent as written: no client-side normalisation of ..
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_linked_sub_folder_is_served_by_its_path_under_the_root(tmp_path):
    photos = write_folder(tmp_path / "photos", n_good=6, n_bad=3, size=24)
    elsewhere = write_folder(tmp_path / "elsewhere", n_good=4, n_bad=0, size=24, seed=1)
    os.symlink(elsewhere / "good", photos / "good" / "batch2")  # photos/good/batch2 -> elsewhere/good
    os.symlink(photos, tmp_path / "data")  # the root itself reached through a link too (e.g. /data -> /mnt/nas)
    session = tmp_path / "session"
    args = label_args(tmp_path, session, free_port())  # dataset.root=tmp/data: the link to photos
    server = Label(args, tmp_path)
    try:
        port = server.serving()
        assert port is not None, server.output
        assert status(port)["pool"] == 13, server.output
        db = sqlite3.connect(session / "labels.sqlite3")
        paths = {p for (p,) in db.execute("SELECT path FROM images WHERE status = 'ok'")}
        linked = {p for (p,) in db.execute("SELECT path FROM images WHERE path LIKE 'good/batch2/%'")}
        db.close()
        assert linked == {f"good/batch2/{i:03d}.png" for i in range(4)}  # as seen under the root, not resolved
        assert all(not p.startswith(("/", "..")) and "elsewhere" not in p for p in paths), paths
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/files/good/batch2/002.png") as r:
            assert r.status == 200 and r.read().startswith(b"\x89PNG")
        for path in paths:  # every listed image, through the link or not, by its path
            code, body = get(port, f"/files/{path}")
            assert code == 200 and body.startswith(b"\x89PNG"), (path, code, body[:200])
        for path in ("/files/good/batch2/../../../elsewhere/good/000.png", "/files/../elsewhere/good/000.png",
                     "/files/%2e%2e/elsewhere/good/000.png", f"/files/{elsewhere}/good/000.png",
                     f"/files/{tmp_path / 'photos' / 'good' / '000.png'}", "/files/good/batch2/%2e%2e/000.png"):
            code, body = get(port, path)
            assert code == 400 and b"PNG" not in body, (path, code, body[:200])
    finally:
        server.stop()
    assert server.proc.returncode in (0, -signal.SIGINT), server.output  # uvicorn re-raises the Ctrl-C
