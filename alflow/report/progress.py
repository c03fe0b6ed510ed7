"""Progress of a whole study (a Hydra sweep): jobs done of N and the time left, after every job.

    hydra:
      callbacks:
        study_progress:
          _target_: alflow.report.progress.StudyProgressCallback

(``conf/experiment/paper.yaml`` and ``paper_elpv.yaml`` register it.) Before the jobs it lists the sweep's
jobs as the basic sweeper will run them (``hydra.sweeper.params`` with the command line's overrides on
top, their cartesian product: :func:`sweep_jobs`) into ``<sweep dir>/study_progress.json``; after each
job it appends the job's number and seconds to ``<sweep dir>/study_progress.log`` (under a file lock:
parallel launchers' workers share it) and prints one line, e.g.

    study: 37 of 80 jobs done, 12.4 min elapsed, about 9.8 min left

The time left (:func:`time_left`) sums, for each job not yet done, the mean seconds of the finished jobs of
the same strategy (of all finished jobs while its strategy has none: a GradCAM_avg job costs more than a
random one), scaled by the wall time elapsed over the finished jobs' summed seconds (parallel workers and
the sweep's own overhead). The pure functions are tested without a sweep (``tests/test_report_progress.py``).
Torch-free, like the rest of ``alflow.report``.
"""
from __future__ import annotations

import fcntl
import itertools
import json
import math
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


PLAN_FILE = "study_progress.json"
LOG_FILE = "study_progress.log"


def _sweep_values(value: str) -> list[str]:
    """The values a basic-sweeper override sweeps: ``range(start, stop[, step])``, a comma list (commas inside
    brackets, braces, parentheses or quotes do not split), or one value."""
    text = value.strip()
    if text.startswith("range(") and text.endswith(")"):
        return [str(v) for v in range(*(int(float(a)) for a in text[6:-1].split(",")))]
    values, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += char
    return values + [current.strip()]


def sweep_jobs(params: Mapping[str, str], overrides: Sequence[str]) -> list[list[str]]:
    """The jobs of a basic-sweeper sweep, in launch order (job number = index): each job's overrides
    (``key=value``). ``params``: ``hydra.sweeper.params``; ``overrides``: the command line's
    (``hydra.overrides.task``), which replace ``params`` of the same key. As Hydra's ``BasicSweeper``:
    a comma list or ``range()`` sweeps; the last value of a key wins, at the key's first position; the jobs
    are the product of the keys' values. (Parsed here, without Hydra's grammar: Hydra stays at the entry
    points; values are kept as typed, not re-escaped as Hydra prints them.)"""
    final: dict[str, list[str]] = {}
    for override in [f"{k}={v}" for k, v in params.items()] + list(overrides):
        key, _, value = str(override).partition("=")
        final[key] = [f"{key}={v}" for v in _sweep_values(value)]
    return [list(job) for job in itertools.product(*final.values())]


def job_group(job: Sequence[str]) -> str:
    """What a job's cost depends on most: its ``strategy=`` value ("" when the sweep does not set one)."""
    return next((o.split("=", 1)[1] for o in job if o.split("=", 1)[0].lstrip("+~") == "strategy"), "")


def time_left(groups: Sequence[str], done: Mapping[int, float], elapsed: float) -> float:
    """Seconds left for the jobs whose numbers are not in ``done``. ``groups``: every job's group
    (:func:`job_group`), by job number; ``done``: job number -> its seconds; ``elapsed``: wall seconds since
    the sweep began. Each remaining job is estimated at the mean seconds of the finished jobs of its group
    (of all finished jobs when none of its group has finished), and the sum is scaled by ``elapsed`` over
    the finished jobs' summed seconds. NaN before any job has finished; 0 when none is left."""
    remaining = [n for n in range(len(groups)) if n not in done]
    if not remaining:
        return 0.0
    if not done:
        return math.nan
    by_group: dict[str, list[float]] = defaultdict(list)
    for n, seconds in done.items():
        by_group[groups[n] if n < len(groups) else ""].append(seconds)
    overall = sum(done.values()) / len(done)
    estimate = sum(sum(by_group[groups[n]]) / len(by_group[groups[n]]) if by_group.get(groups[n]) else overall
                   for n in remaining)
    busy = sum(done.values())
    return estimate * (elapsed / busy if busy > 0 else 1.0)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def progress_line(n_jobs: int, done: Mapping[int, float], elapsed: float, left: float, failed: int = 0) -> str:
    """``study: 37 of 80 jobs done, 12.4 min elapsed, about 9.8 min left`` (``(2 failed)`` after done when
    jobs failed; ``all done`` instead of the time left at the end)."""
    line = f"study: {len(done)} of {n_jobs} jobs done" + (f" ({failed} failed)" if failed else "")
    line += f", {_minutes(elapsed)} elapsed"
    if len(done) >= n_jobs:
        return line + ", all done"
    return line + ("" if math.isnan(left) else f", about {_minutes(left)} left")


def read_log(path: Path) -> tuple[dict[int, float], int]:
    """``study_progress.log`` → (job number -> seconds of its latest line, jobs whose latest line failed)."""
    done: dict[int, float] = {}
    status: dict[int, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                done[int(parts[0])] = float(parts[1])
                status[int(parts[0])] = parts[2]
    return done, sum(s != "COMPLETED" for s in status.values())


class StudyProgressCallback:
    """Hydra callback (``hydra.callbacks``): prints the study's progress after every job. It has every method
    Hydra's ``Callback`` has (Hydra calls each on every callback) without importing Hydra: Hydra stays at
    the entry points (tests/test_layers.py)."""

    def __init__(self) -> None:
        self._started: float | None = None

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        try:
            jobs = sweep_jobs(dict(config.hydra.sweeper.get("params") or {}), list(config.hydra.overrides.task))
        except Exception as exc:  # another sweeper's syntax: no plan, only jobs done
            print(f"study: cannot list the sweep's jobs ({exc}); counting jobs done only", flush=True)
            jobs = []
        plan = {"start": time.time(), "jobs": [" ".join(j) for j in jobs], "groups": [job_group(j) for j in jobs]}
        (sweep_dir / PLAN_FILE).write_text(json.dumps(plan, indent=1))
        (sweep_dir / LOG_FILE).unlink(missing_ok=True)  # a rerun into the same folder starts counting again
        if jobs:
            counts = {g: plan["groups"].count(g) for g in dict.fromkeys(plan["groups"])}
            print(f"study: {len(jobs)} jobs (" + ", ".join(f"{g or 'jobs'} {c}" for g, c in counts.items())
                  + f"); progress after each job, log in {sweep_dir / LOG_FILE}", flush=True)

    def on_run_start(self, config: Any, **kwargs: Any) -> None:
        pass

    def on_run_end(self, config: Any, **kwargs: Any) -> None:
        pass

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        pass

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_job_end(self, config: Any, job_return: Any = None, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        plan_path = sweep_dir / PLAN_FILE
        if not plan_path.exists():  # a single run (no sweep): nothing to count
            return
        seconds = time.perf_counter() - self._started if self._started is not None else math.nan
        status = getattr(getattr(job_return, "status", None), "name", "COMPLETED")
        num = int(config.hydra.job.num)
        log_path = sweep_dir / LOG_FILE
        with log_path.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(f"{num} {seconds:.3f} {status}\n")
        plan = json.loads(plan_path.read_text())
        done, failed = read_log(log_path)
        groups = plan["groups"]
        elapsed = time.time() - plan["start"]
        n_jobs = len(groups) or len(done)
        done = {n: (s if math.isfinite(s) else 0.0) for n, s in done.items()}
        print(progress_line(n_jobs, done, elapsed, time_left(groups, done, elapsed) if groups else math.nan,
                            failed), flush=True)
