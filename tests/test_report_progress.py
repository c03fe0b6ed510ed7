"""A study's progress (alflow.report.progress): the sweep's job list as Hydra's basic sweeper builds it,
the time left, the line printed after each job; the callback driven by hand-made configs (no sweep run)."""
from __future__ import annotations

import math

import pytest
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from alflow.report.progress import (
    LOG_FILE, PLAN_FILE, StudyProgressCallback, job_group, progress_line, read_log, sweep_jobs, time_left,
)


def test_sweep_jobs_is_the_basic_sweepers_product():
    params = {"strategy": "random,uncertainty,gradcam_avg,upper_bound", "fold.index": "0,1,2,3,4,5,6,7,8,9",
              "seed": "0,1"}
    jobs = sweep_jobs(params, ["experiment=paper_elpv", "tracking.uri=sqlite:///x.db"])
    assert len(jobs) == 4 * 10 * 2
    assert jobs[0] == ["strategy=random", "fold.index=0", "seed=0", "experiment=paper_elpv",
                       "tracking.uri=sqlite:///x.db"]
    assert jobs[1][:3] == ["strategy=random", "fold.index=0", "seed=1"] and jobs[-1][0] == "strategy=upper_bound"
    # the command line replaces a swept key, at its first position; range() sweeps too
    narrowed = sweep_jobs(params, ["fold.index=range(0,3)", "strategy=random"])
    assert len(narrowed) == 1 * 3 * 2 and narrowed[0] == ["strategy=random", "fold.index=0", "seed=0"]
    # the same list as Hydra's own BasicSweeper.split_arguments, job for job
    args = [f"{k}={v}" for k, v in params.items()] + ["fold.index=1,2", "experiment=paper_elpv"]
    hydra = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(args), None)[0]
    assert sweep_jobs(params, ["fold.index=1,2", "experiment=paper_elpv"]) == hydra


def test_sweep_values_keep_brackets_and_quotes_whole():
    from alflow.report.progress import _sweep_values

    assert _sweep_values("[0.001,0.01],[1,2]") == ["[0.001,0.01]", "[1,2]"]
    assert _sweep_values("'a,b',c") == ["'a,b'", "c"] and _sweep_values("range(0,10,4)") == ["0", "4", "8"]
    assert _sweep_values("random") == ["random"]


def test_callback_has_every_hook_hydra_calls():
    from hydra.experimental.callback import Callback

    hooks = [m for m in dir(Callback) if m.startswith("on_")]
    assert hooks and all(callable(getattr(StudyProgressCallback, m)) for m in hooks)


def test_job_group_is_the_strategy():
    assert job_group(["fold.index=0", "strategy=gradcam_avg"]) == "gradcam_avg"
    assert job_group(["+strategy=bald"]) == "bald" and job_group(["seed=0"]) == ""


def test_time_left_by_hand():
    groups = ["random", "random", "gradcam_avg", "gradcam_avg", "badge"]
    # done: job 0 (random, 10 s) and job 2 (gradcam_avg, 30 s), 20 s of wall time (two parallel workers)
    # left: job 1 ~ 10 s, job 3 ~ 30 s, job 4 (no badge job done yet) ~ the mean of all done, 20 s: 60 s of
    # work, scaled by 20 s elapsed / 40 s of summed job time -> 30 s
    assert time_left(groups, {0: 10.0, 2: 30.0}, 20.0) == pytest.approx(30.0)
    assert math.isnan(time_left(groups, {}, 5.0))
    assert time_left(["a"], {0: 3.0}, 4.0) == 0.0


def test_progress_line():
    done = {n: 1.0 for n in range(37)}
    assert progress_line(80, done, 744.0, 588.0) == "study: 37 of 80 jobs done, 12.4 min elapsed, about 9.8 min left"
    assert progress_line(80, done, 60.0, 30.0, failed=2) == \
        "study: 37 of 80 jobs done (2 failed), 1.0 min elapsed, about 0.5 min left"
    assert progress_line(2, {0: 1.0, 1: 1.0}, 90.0, 0.0) == "study: 2 of 2 jobs done, 1.5 min elapsed, all done"
    assert progress_line(3, {0: 1.0}, 6.0, math.nan) == "study: 1 of 3 jobs done, 0.1 min elapsed"


def test_read_log_keeps_each_jobs_latest_line(tmp_path):
    path = tmp_path / LOG_FILE
    path.write_text("0 10.0 COMPLETED\n1 5.0 FAILED\n1 7.5 COMPLETED\n2 1.0 FAILED\n")
    assert read_log(path) == ({0: 10.0, 1: 7.5, 2: 1.0}, 1)
    assert read_log(tmp_path / "missing.log") == ({}, 0)


def test_callback_counts_the_jobs_of_a_sweep(tmp_path, capsys, monkeypatch):
    sweep_dir = tmp_path / "multirun" / "x"
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)},
                                         "sweeper": {"params": {"strategy": "random,gradcam_avg", "seed": "0,1"}},
                                         "overrides": {"task": ["experiment=paper_elpv"]}}})
    clock = iter([100.0, 110.0, 110.0, 150.0])  # perf_counter: job 0 runs 10 s, job 1 runs 40 s
    monkeypatch.setattr("alflow.report.progress.time.perf_counter", lambda: next(clock))
    monkeypatch.setattr("alflow.report.progress.time.time", lambda: 1000.0)
    callback = StudyProgressCallback()
    callback.on_multirun_start(config)
    assert (sweep_dir / PLAN_FILE).exists()
    assert "study: 4 jobs (random 2, gradcam_avg 2)" in capsys.readouterr().out
    monkeypatch.setattr("alflow.report.progress.time.time", lambda: 1050.0)  # 50 s after the start
    for num in (0, 1):
        job = OmegaConf.merge(config, {"hydra": {"job": {"num": num}}})
        callback.on_job_start(job)
        callback.on_job_end(job, job_return=None)
    lines = capsys.readouterr().out.strip().splitlines()
    # jobs 0 and 1 are random's (seeds 0, 1); gradcam_avg's jobs 2 and 3 are left, and no gradcam_avg job is
    # done: each ~ the mean of all done, 25 s; 50 s x 50 s elapsed / 50 s summed = 50 s
    assert lines[-1] == "study: 2 of 4 jobs done, 0.8 min elapsed, about 0.8 min left"
    assert (sweep_dir / LOG_FILE).read_text() == "0 10.000 COMPLETED\n1 40.000 COMPLETED\n"


def test_callback_is_quiet_for_a_single_run(tmp_path, capsys):
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "none")}, "job": {"num": 0}}})
    StudyProgressCallback().on_job_end(config)
    assert capsys.readouterr().out == "" and not (tmp_path / "none").exists()


# --------------------------------------------------------------------------- the study's overlays compose


def compose_study(*overrides):
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    conf = str(Path(__file__).resolve().parent.parent / "conf")
    with initialize_config_dir(config_dir=conf, version_base=None):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_paper_elpv_is_the_papers_study_with_the_default_learner():
    c = compose_study("experiment=paper_elpv")
    assert (c.dataset.name, c.fold.k, c.al.batch_size, c.al.max_rounds, c.al.learning) == \
        ("elpv", 10, 32, None, "incremental")
    assert (c.model.trainable, c.model.backbone, c.model.pretrained, c.al.replay) == \
        ("head", "efficientnet_lite0", "imagenet", True)
    assert c.tracking.experiment == "elpv-paper-study" and c.gallery_size == 0 and c.analysis.batch_retrain
    assert c.hydra.callbacks.study_progress._target_ == "alflow.report.progress.StudyProgressCallback"
    jobs = sweep_jobs(dict(c.hydra.sweeper.params), [])
    assert len(jobs) == 4 * 10 * 2 and {job_group(j) for j in jobs} == {"random", "uncertainty", "gradcam_avg",
                                                                        "upper_bound"}
    # the paper's own learner by an override
    paper = compose_study("experiment=paper_elpv", "model.trainable=all", "model.backbone=resnet18",
                          "model.pretrained=none")
    assert (paper.model.trainable, paper.model.backbone, paper.model.pretrained) == ("all", "resnet18", "none")


def test_paper_elpv_field_adds_the_fields_strategies():
    c = compose_study("experiment=paper_elpv_field")
    assert c.tracking.experiment == "elpv-paper-study" and c.model.trainable == "head"
    groups = [job_group(j) for j in sweep_jobs(dict(c.hydra.sweeper.params), [])]
    assert len(groups) == 9 * 20 and set(groups) >= {"coreset", "typiclust", "badge", "bald", "gradcam_uncertainty"}
    extra = sweep_jobs(dict(c.hydra.sweeper.params), ["strategy=coreset,typiclust,badge,bald,gradcam_uncertainty"])
    assert len(extra) == 5 * 20


def test_experiment_paper_prints_the_studys_progress_too():
    c = compose_study("experiment=paper")
    assert c.hydra.callbacks.study_progress._target_ == "alflow.report.progress.StudyProgressCallback"
    assert len(sweep_jobs(dict(c.hydra.sweeper.params), [])) == 4 * 10
