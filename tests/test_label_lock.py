"""Two processes, one session or one port (issue 23): a second ``alflow label`` on a session folder that
another one serves refuses at once, naming the folder and the holder's pid and host, and a SIGKILLed
holder leaves no lock behind; a port in use is named (``label.port``) before any address is printed,
and ``label.port=0`` serves on a free port and prints it. Real ``alflow label`` processes throughout."""
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from label_helpers import write_folder

from conftest import checkout_env

pytestmark = pytest.mark.slow  # real alflow label processes: each start builds a (tiny) model
ADDRESS = re.compile(r"alflow label: open http://127\.0\.0\.1:(\d+)/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def label_args(tmp: Path, session: Path, port: int) -> list[str]:
    """``alflow label`` on the tiny folder ``tmp/data`` (written once), small settings as the other label tests."""
    root = tmp / "data"
    if not root.exists():
        write_folder(root, n_good=8, n_bad=4, size=24)
    return ["label", "dataset=folder", f"dataset.root={root}", "experiment=smoke", "dataset.image_size=32",
            "dataset.cache_dir=null", "gallery_size=0", f"label.session_dir={session}", f"label.port={port}",
            "al.batch_size=4", f"tracking.uri=sqlite:///{tmp / 'mlflow.db'}"]


class Label:
    """``alflow label ARGS`` in a subprocess: ``serving()`` reads its output until the address (returns the
    port it printed) or its exit (returns None); ``output`` is what it printed so far."""

    def __init__(self, args: list[str], cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "alflow", *args], cwd=cwd, env=checkout_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def serving(self, timeout: float = 180) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:  # it exited
                self.proc.wait(30)
                return None
            self.lines.append(line)
            found = ADDRESS.search(line)
            if found:
                return int(found.group(1))
        raise AssertionError("neither an address nor an exit:\n" + self.output)

    def finish(self, timeout: float = 120) -> int:
        """The exit status of a process expected to stop by itself (the rest of its output read)."""
        try:
            rest, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("still running:\n" + self.output) from None
        self.lines.append(rest)
        return self.proc.returncode

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def status(port: int) -> dict:
    for _ in range(100):
        try:
            return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5))
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answers on port {port}")


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_a_second_alflow_label_on_one_session_refuses_at_once_and_a_killed_holder_leaves_no_lock(tmp_path):
    session = tmp_path / "session"
    holder = Label(label_args(tmp_path, session, free_port()), tmp_path)
    try:
        assert holder.serving() is not None, holder.output
        second = Label(label_args(tmp_path, session, free_port()), tmp_path)
        try:
            assert second.serving() is None, "the second session serves too:\n" + second.output
        finally:
            second.stop()
        assert second.proc.returncode == 2, second.output
        line = last_line(second.output)
        assert "alflow label: label.session_dir=" in line, second.output
        assert f"label.session_dir={session} " in line and f"pid {holder.proc.pid} on {socket.gethostname()}" in line
        # at once: before the dataset is read or a model built (nothing of the holder's session is touched)
        assert "decoding" not in second.output and "features" not in second.output, second.output
        assert "Traceback" not in second.output
    finally:
        holder.stop(signal.SIGKILL)  # a holder that cannot clean up: the kernel drops its lock
    again = Label(label_args(tmp_path, session, free_port()), tmp_path)
    try:
        port = again.serving()
        assert port is not None, again.output
        assert status(port)["pool"] == 12
    finally:
        again.stop()
    assert again.proc.returncode in (0, -signal.SIGINT), again.output  # uvicorn re-raises the Ctrl-C it caught


def test_port_0_serves_on_a_free_port_and_a_port_in_use_is_named_before_any_address(tmp_path):
    first = Label(label_args(tmp_path, tmp_path / "one", 0), tmp_path)
    try:
        port = first.serving()  # label.port=0: the OS picks a free port, and the address printed is it
        assert port not in (None, 0), first.output
        assert status(port)["pool"] == 12
        taken = Label(label_args(tmp_path, tmp_path / "two", port), tmp_path)  # another session, the same port
        assert taken.finish() == 2, taken.output
        assert "open http" not in taken.output, "an address printed for a port another session serves:\n" + \
            taken.output
        line = last_line(taken.output)
        assert f"alflow label: label.port={port}: 127.0.0.1:{port} is in use" in line, taken.output
        assert "Traceback" not in taken.output
        # refused before any part was built: no dataset read, no model, no MLflow run opened for the session
        assert "decoding" not in taken.output and "features" not in taken.output, taken.output
        assert not (tmp_path / "two" / "mlflow").exists() and not (tmp_path / "two" / "labels.sqlite3").exists()
        assert status(port)["pool"] == 12  # the first session is untouched
    finally:
        first.stop()
    assert first.proc.returncode in (0, -signal.SIGINT), first.output  # uvicorn re-raises the Ctrl-C it caught
