"""README.md's two fresh-machine commands are what CI and the sweep script actually run."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fenced_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if "python3 -m venv" in line]


def test_readme_test_command_is_the_one_ci_runs():
    setups = _fenced_commands()
    test_setup = next(c for c in setups if "pytest" in c)
    test_command = test_setup.split("&&")[-1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, f".ci/run does not run README.md's test command {test_command!r}"
    # CI installs what the README installs, in the same order.
    installs = [part.strip() for part in test_setup.split("&&") if part.strip().startswith("pip install")]
    ci_installs = [line.replace("python -m pip install --quiet ", "pip install ") for line in ci_lines
                   if line.startswith("python -m pip install --quiet") and "--upgrade pip" not in line]
    assert ci_installs == installs


def test_readme_main_job_runs_the_sweep_script():
    main_job = next(c for c in _fenced_commands() if "pytest" not in c)
    script = main_job.split("&&")[-1].strip()
    assert script == "./multirun.sh"
    assert (ROOT / "multirun.sh").stat().st_mode & 0o111, "multirun.sh is not executable"


@pytest.mark.slow
def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    """The "Python API" block runs as written, in a folder whose conf/ is the repository's."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    (tmp_path / "conf").symlink_to(ROOT / "conf")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALFLOW_CACHE_DIR", str(tmp_path / "cache"))
    scope: dict = {}
    exec(compile(code, "README.md (Python API)", "exec"), scope)
    assert len(scope["history"]) == 3 and scope["batch"] is not None


def test_ci_refuses_a_short_disk_before_installing_anything(tmp_path):
    """.ci/run checks free space first: a full disk once failed CI minutes in, as ENOSPC inside a fixture."""
    checkout = tmp_path / "clone"
    (checkout / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", checkout / ".ci" / "run")
    result = subprocess.run(["bash", str(checkout / ".ci" / "run")], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", "ALFLOW_CI_NEED_GIB": "1000000"}, timeout=60)
    assert result.returncode == 1
    assert f"free on the disk holding {checkout}" in result.stderr
    assert "CI needs about 1000000 GiB" in result.stderr
    assert not (checkout / ".venv").exists(), "it set up a venv before refusing"
