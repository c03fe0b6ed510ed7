"""Every number (and switch) a user types is checked for type and range before a job opens a run: one line naming
the key and the values allowed (alflow.settings_check), for jobs and labeling sessions alike."""
from pathlib import Path

import pytest
from conftest import REPO, run_alflow
from omegaconf import OmegaConf, open_dict

from alflow.settings_check import SETTINGS, Ref, check_settings

CONF = REPO / "conf"


def compositions() -> list[tuple[str, list[str]]]:
    """(config name, overrides) composing every option of the groups that add keys, for jobs and sessions."""
    options = [("config", [])]
    for group in ("dataset", "strategy", "stopping", "experiment"):
        for path in sorted((CONF / group).glob("*.yaml")):
            extra = ["dataset.root=/data"] if group == "dataset" and path.stem in ("folder", "ksdd", "ksdd2") else []
            options.append(("config", [f"{group}={path.stem}", *extra]))
    options.append(("label", ["label.session_dir=/tmp/session", "dataset=folder", "dataset.root=/data"]))
    return options


@pytest.fixture(scope="module")
def composed():
    """Every composition of ``compositions()``, without Hydra's own section."""
    from hydra import compose, initialize_config_dir

    configs = []
    with initialize_config_dir(str(CONF), version_base=None):
        for name, overrides in compositions():
            cfg = compose(name, overrides=overrides)
            with open_dict(cfg):
                cfg.pop("hydra", None)
            configs.append(cfg)
    return configs


def leaves(cfg) -> dict:
    """Dotted key -> resolved value of every leaf of ``cfg``."""
    out = {}

    def walk(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out[f"{prefix}{key}"] = value
    walk(OmegaConf.to_container(cfg, resolve=True), "")
    return out


def with_value(cfg, key, value):
    cfg = cfg.copy()
    OmegaConf.update(cfg, key, value, merge=False)
    return cfg


def holding(composed, key):
    return next(cfg for cfg in composed if OmegaConf.select(cfg, key, default="absent") != "absent")


# ---------------------------------------------------------------------------------------------- the table itself

def test_every_key_of_the_table_is_in_a_composed_config(composed):
    """A key renamed in conf/ but not in the table would escape the check: every row names a real key."""
    keys = set().union(*(leaves(cfg) for cfg in composed))
    assert sorted(set(SETTINGS) - keys) == []


def test_every_number_and_switch_of_the_composed_configs_has_a_row(composed):
    """A numeric (or true/false) key added to conf/ without a row would go unchecked."""
    typed = {key for cfg in composed for key, value in leaves(cfg).items()
             if not key.rsplit(".", 1)[-1].startswith("_") and isinstance(value, (bool, int, float)) or
             (isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value))}
    assert sorted(typed - set(SETTINGS)) == []


def test_the_shipped_configs_pass(composed):
    for cfg in composed:
        check_settings(cfg)


KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false"}


def _wrong_types(setting):
    if setting.kind == "bool":
        return ["yes", 1, 0.0]
    wrong = [True, float("nan"), float("inf")] + ([] if "*" in setting.words else ["x"])
    if setting.kind == "int":
        wrong += [1.5, 2.0] + ([] if "*" in setting.words else ["1"])
    if setting.items:
        wrong = [[], [True], ["x"]] + ([0.5] if setting.null else [])
    return wrong


def _bounds(setting, cfg):
    bounds = []
    for bound in (setting.low, setting.high):
        bounds.append(OmegaConf.select(cfg, bound.key) + bound.offset if isinstance(bound, Ref) else bound)
    return bounds


def _out_of_range(setting, cfg):
    low, high = _bounds(setting, cfg)
    step = 1 if setting.kind == "int" else 0.5
    out = []
    if low is not None:
        out.append(low if setting.low_open else low - step)
    if high is not None:
        out.append(high if setting.high_open else high + step)
    return [[v] if setting.items else v for v in out]


def _in_range(setting, cfg):
    """The lowest value allowed (just above an open bound), and the highest one when there is one."""
    if setting.kind == "bool":
        return [True, False]
    low, high = _bounds(setting, cfg)
    values = []
    if low is not None:
        values.append(low + (1 if setting.kind == "int" else 1e-3) * setting.low_open)
    if high is not None and not setting.high_open:
        values.append(high)
    values = [int(v) if setting.kind == "int" or float(v).is_integer() else v for v in values or [3]]
    return [[v] if setting.items else v for v in values] + [None] * setting.null


@pytest.mark.parametrize("key", list(SETTINGS))
def test_each_key_refuses_a_wrong_type_and_a_value_out_of_range_naming_itself(composed, key):
    setting = SETTINGS[key]
    cfg = holding(composed, key)
    for value in _wrong_types(setting) + _out_of_range(setting, cfg):
        with pytest.raises(ValueError) as refused:
            check_settings(with_value(cfg, key, value))
        message = str(refused.value)
        assert message.startswith(f"{key} must be ") and message.endswith(f", got {value!r}"), message
        assert (KIND_WORDS[setting.kind] in message) != setting.items and "\n" not in message, message
    for value in _in_range(setting, cfg):
        if key == "dataset.min_contrast":  # its upper end is dataset.max_contrast's floor
            cfg = with_value(cfg, "dataset.max_contrast", 1)
        check_settings(with_value(cfg, key, value))


def test_the_fold_messages_say_what_would_work(composed):
    cfg = holding(composed, "fold.index")
    with pytest.raises(ValueError, match=r"^fold\.index must be an integer in \[0, 9\] \(fold\.k=10\), got 1\.5$"):
        check_settings(with_value(cfg, "fold.index", 1.5))
    with pytest.raises(ValueError, match=r"^fold\.index must be an integer in \[0, 4\] \(fold\.k=5\), got 5$"):
        check_settings(with_value(with_value(cfg, "fold.k", 5), "fold.index", 5))
    with pytest.raises(ValueError, match=r"^fold\.k must be an integer >= 3, got 0$"):
        check_settings(with_value(cfg, "fold.k", 0))


def test_interpolated_keys_are_checked_resolved(composed):
    cfg = holding(composed, "fold.seed")  # fold.seed: ${seed}
    with pytest.raises(ValueError, match=r"^seed must be an integer >= 0, got -1$"):
        check_settings(with_value(cfg, "seed", -1))


def test_a_session_refuses_a_bad_label_setting_before_it_starts(tmp_path):
    """``alflow label`` composes through the same root: a label.* number is checked there too."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from alflow.compose import compose
    from alflow.errors import ConfigError

    with initialize_config_dir(str(CONF), version_base=None):
        cfg = hydra_compose("label", overrides=[f"label.session_dir={tmp_path}", "dataset=folder",
                                                f"dataset.root={tmp_path / 'photos'}", "label.audit_size=1.5"])
    with pytest.raises(ConfigError, match=r"^label\.audit_size must be an integer >= 0, got 1\.5$"):
        compose(cfg, tmp_path / "gallery", session=True, state_dir=tmp_path)


# ------------------------------------------------------------------------------------ the alflow command, for real

@pytest.mark.parametrize("override,says", [
    ("fold.index=1.5", "fold.index must be an integer in [0, 4] (fold.k=5), got 1.5"),  # a float sweep range
    ("fold.k=0", "fold.k must be an integer >= 3, got 0"),
    ("trainer.batch_size=16.5", "trainer.batch_size must be an integer >= 1, got 16.5"),
    ("gallery_size=-4", "gallery_size must be an integer >= 0, got -4"),
])
def test_a_bad_number_is_one_line_and_no_run(tmp_path, override, says):
    store = tmp_path / "mlflow.db"
    proc = run_alflow(["experiment=smoke", "al.max_rounds=1", "analysis.batch_retrain=false", override,
                       f"tracking.uri=sqlite:///{store}"], cwd=tmp_path, timeout=600)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("alflow:")]
    assert lines == [f"alflow: config error: {says}"], proc.stderr[-2000:]
    assert not store.exists()  # refused before the store was opened: no run, nothing recorded
    assert not list(Path(tmp_path).glob(".alflow/state/*.pt"))
