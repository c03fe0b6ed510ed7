"""The user docs' commands are what CI, the sweep script and conf/ actually have: README.md's two fresh-machine
commands, its Python API example, the commands that moved to docs/*.md, and every relative link."""
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
USER_DOCS = [README, *DOCS]
GROUPS = ("dataset", "strategy", "stopping", "experiment", "model", "fold", "trainer", "tracking")
PLUGIN_LAUNCHERS = {"joblib"}  # hydra/launcher options a plugin brings (the sweep extra), not conf/


def _bash_blocks(path: Path) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S)


def _fenced_commands() -> list[str]:
    """README.md's fresh-machine commands: the fenced lines that create the venv."""
    return [line.strip() for block in _bash_blocks(README) for line in block.splitlines() if "python3 -m venv" in line]


def _torch_pins(command: str) -> list[str]:
    return re.findall(r"\b(torch(?:vision)?==\S+)", command)


def test_readme_has_the_two_fresh_machine_commands():
    setups = _fenced_commands()
    assert len(setups) == 2, setups
    assert sum("pytest" in c for c in setups) == 1


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


def test_readme_cpu_only_install_pins_the_same_torch():
    """The CPU-only alternative installs the very versions the two commands pin."""
    cpu = [line.strip() for block in _bash_blocks(README) for line in block.splitlines()
           if "download.pytorch.org/whl/cpu" in line]
    assert len(cpu) == 1, cpu
    for setup in _fenced_commands():
        assert _torch_pins(cpu[0]) == _torch_pins(setup) != []


@pytest.mark.slow
def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    """The "Python API" block runs as written, in a folder whose conf/ is the repository's."""
    text = README.read_text()
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


def test_readme_is_a_users_document_of_250_to_350_lines():
    lines = len(README.read_text().splitlines())
    assert 250 <= lines <= 350, f"README.md has {lines} lines; the rest belongs in docs/"


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_docs_commands_name_what_conf_and_benchmarks_hold(path):
    """Every command a user doc gives (README or the docs/ page it moved to) names config options that exist
    and benchmark scripts that exist."""
    for block in _bash_blocks(path):
        for group, options in re.findall(r"(?<![\w./-])(" + "|".join(GROUPS) + r")=([\w,]+)", block):
            for option in options.split(","):
                assert (ROOT / "conf" / group / f"{option}.yaml").is_file(), f"{path.name}: {group}={option}"
        for option in re.findall(r"hydra/launcher=(\w+)", block):
            assert option in PLUGIN_LAUNCHERS or (ROOT / "conf/hydra/launcher" / f"{option}.yaml").is_file(), option
        for script in re.findall(r"\b(benchmarks/\w+\.py)", block):
            assert (ROOT / script).is_file(), f"{path.name}: {script}"
        for script in re.findall(r"(?<![\w/])\./(\S+\.sh)\b", block):
            assert (ROOT / script).is_file(), f"{path.name}: ./{script}"


def test_the_moved_sections_have_their_homes():
    """What left README.md lives in docs/ (and README links each page)."""
    homes = {"results.md": ["## The learner on elpv", "## Fine-tuning on elpv at 64 px", "## The strategies on elpv",
                            "## Stopping: where each rule would have stopped"],
             "labeling.md": ["# Labeling with an inspector", "## Keys", "## Security"],
             "scale.md": ["## Parallel jobs on one workstation", "## SLURM", "## A tracking server",
                          "## Resume: nothing is lost"],
             "design.md": ["## What a job does", "## How a round learns", "## Layout"]}
    readme = README.read_text()
    for name, headings in homes.items():
        text = (ROOT / "docs" / name).read_text()
        for heading in headings:
            assert re.search(rf"^{re.escape(heading)}$", text, flags=re.M), f"docs/{name}: {heading!r}"
        assert f"(docs/{name})" in readme, f"README.md does not link docs/{name}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not - or _), spaces to -."""
    text = re.sub(r"[`*]|\[([^]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading).strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    """Each relative link (text or image) points at a file that exists, and each #anchor at a heading in it."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    links = re.findall(r"!?\[[^]]*\]\(([^)\s]+)\)", text)
    assert links, f"{path.name} links nothing"
    for link in links:
        if re.match(r"[a-z]+:", link):  # http(s):, mailto:
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        assert file.exists(), f"{path.relative_to(ROOT)}: {link} -> {file} does not exist"
        if anchor:
            where = f"{path.relative_to(ROOT)}: no #{anchor} in {file.name}"
            assert file.suffix == ".md" and anchor in _anchors(file), where


def test_every_screenshot_is_shown():
    """The browser tests' screenshots in docs/images/ are each shown by a user doc."""
    shown = {(path.parent / link).resolve() for path in USER_DOCS
             for link in re.findall(r"!\[[^]]*\]\(([^)\s]+)\)", path.read_text())}
    for image in sorted((ROOT / "docs" / "images").glob("*.png")):
        assert image.resolve() in shown, f"docs/images/{image.name} is shown nowhere"


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_docs_say_nothing_about_the_build_machine(path):
    """Timings name their hardware in a table column; sentences about the machine the project is built on, and
    requests to the reader, belong nowhere in the user docs (machine logs: benchmarks/README.md)."""
    text = path.read_text().lower()
    for phrase in ("this machine", "this cpu", "this project's", "on this host", "no gpu was", "no internet",
                   "beside the test suite", "add its title", "author list", "in this session"):
        assert phrase not in text, f"{path.name} says {phrase!r}"


def test_the_paper_is_cited_by_venue_and_pages():
    text = " ".join(README.read_text().split())
    assert "34th Central European Conference on Information and Intelligent Systems" in text
    assert "CECIIS 2023" in text and "Dubrovnik, September 20–22, 2023" in text and "pp. 401–404" in text
