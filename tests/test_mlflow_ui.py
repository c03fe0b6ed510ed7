"""What a user sees in the MLflow UI, checked in a real browser (Debian's chromium + chromedriver,
driven by selenium) against a real ``mlflow ui`` on 127.0.0.1 over a store written by a real smoke sweep.

The address the sweep prints must open the experiment's runs (MLflow 3's model-training view, not the
empty GenAI traces overview), the chart view must show the learning curves first and no end-of-run
bar charts, and grouping by the ``strategy`` tag must be one click. The test takes the screenshot that
README shows (``ALFLOW_UPDATE_SCREENSHOTS=1`` writes it to docs/images/mlflow_runs_chart.png).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, checkout_env, run_alflow

from alflow.records import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, LEARNING_CURVES

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SCREENSHOT = REPO / "docs" / "images" / "mlflow_runs_chart.png"
MAX_SCREENSHOT_BYTES = 150_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium "
                              "chromium-driver; .ci/run installs them)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A smoke sweep (2 strategies x 2 folds, 2 rounds) into a fresh SQLite store; its printed output."""
    cwd = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{cwd / 'mlflow.db'}"
    proc = run_alflow(["-m", "experiment=smoke", "strategy=random,uncertainty", "fold.index=0,1",
                       "al.max_rounds=2", "gallery_size=0", "analysis.batch_retrain=false", f"tracking.uri={uri}"],
                      cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, uri, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def ui(store):
    """``mlflow ui`` on a free port of 127.0.0.1, serving the store; its base address."""
    cwd, uri, _ = store
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port)], cwd=cwd, env=checkout_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, "mlflow ui exited"
            assert time.time() < deadline, "mlflow ui did not answer within 120 s"
            time.sleep(1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1500"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(condition, timeout=60, what="the page"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def printed_address(output: str, base: str) -> str:
    """The address the sweep told the user to open, moved to the test server's port."""
    match = re.search(r"then open '?(http://127\.0\.0\.1:5000/[^' \n]+)", output)
    assert match, output[-2000:]
    return match.group(1).replace("http://127.0.0.1:5000", base)


def section_order(text: str) -> list[str]:
    """Chart-view section titles in page order: a line followed by a "(N)" line."""
    lines = [line.strip() for line in text.splitlines()]
    return [line for line, after in zip(lines, lines[1:]) if re.fullmatch(r"\(\d+\)", after)]


def close_assistant(driver) -> None:
    """MLflow 3.17 opens an "Assistant" side panel on first visit; close it so the runs get the width."""
    from selenium.webdriver.common.by import By

    for button in driver.find_elements(By.CSS_SELECTOR, "button[aria-label*='lose']"):
        try:
            if button.is_displayed():
                button.click()
        except Exception:  # noqa: BLE001 - a button that went away meanwhile
            pass


def test_experiments_are_model_training_experiments(store):
    from mlflow.tracking import MlflowClient

    _, uri, output = store
    experiment = MlflowClient(uri).get_experiment_by_name("alflow")
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    assert output.count("Compare the strategies' AUC curves") == 1  # once per sweep


def test_printed_address_opens_the_runs_and_their_learning_curves_first(store, ui, browser, tmp_path):
    _, _, output = store
    # README's screenshot is rewritten only when asked (ALFLOW_UPDATE_SCREENSHOTS=1): a test run leaves the
    # checkout as it found it
    screenshot = SCREENSHOT if os.environ.get("ALFLOW_UPDATE_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
    check_runs_view(browser, printed_address(output, ui),
                    ["random fold0 seed0", "random fold1 seed0", "uncertainty fold0 seed0", "uncertainty fold1 seed0"],
                    ["random", "uncertainty"], screenshot)
    assert screenshot.stat().st_size < MAX_SCREENSHOT_BYTES


def check_runs_view(browser, address: str, names: list[str], strategies: list[str], screenshot: Path) -> None:
    """Open ``address`` as a user would; assert what the user must see; group by strategy; screenshot."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    browser.get(address)
    body = lambda: browser.find_element(By.TAG_NAME, "body").text  # noqa: E731
    wait_for(lambda: all(n in body() for n in names), what=f"the run names, whole: {names}")
    assert "/runs" in browser.current_url and "overview" not in browser.current_url
    assert "No data available" not in body()  # not the GenAI traces overview
    assert f"{len(names)} matching runs" in body()

    sections = wait_for(lambda: section_order(body()) if "val" in section_order(body()) else None,
                        what="the chart sections")
    # the learning curves' namespaces first, then the round's diagnostics; no end-of-run bar charts
    namespaces = sorted({curve.split("/")[0] for curve in LEARNING_CURVES})
    assert namespaces == ["pool", "test", "val"] and sections[:3] == namespaces, sections
    assert set(sections[3:]) <= {"Model metrics", "System metrics"}, sections  # MLflow's own, last
    wait_for(lambda: "pool/defects_found" in body() and "pool/defects_left" in body(), what="the first charts")

    # one click groups the runs by strategy: one colour per strategy, mean and band over the folds
    close_assistant(browser)
    browser.find_element(By.XPATH, "//button[contains(., 'Group by')]").click()
    item = "//*[@role='menuitemcheckbox' or @role='menuitem' or @role='option'][normalize-space(.)='strategy']"
    wait_for(lambda: browser.find_elements(By.XPATH, item), what="the group-by menu's 'strategy' tag")
    browser.find_element(By.XPATH, item).click()
    wait_for(lambda: "Group by: strategy" in body() and all(f"Group: {s}" in body() for s in strategies),
             what="one group per strategy")
    browser.find_element(By.TAG_NAME, "body").send_keys("\ue00c")  # Escape closes the menu
    time.sleep(4)  # the charts redraw for the groups
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    raw = screenshot.with_suffix(".raw.png")
    browser.save_screenshot(str(raw))
    Image.open(raw).convert("RGB").quantize(colors=256).save(screenshot, optimize=True)
    raw.unlink()


def test_hint_for_a_tracking_server_names_its_address_and_that_opens_the_runs(store, ui, browser):
    import shlex

    from mlflow.tracking import MlflowClient
    from selenium.webdriver.common.by import By

    from alflow.tracking import ui_hint
    from alflow.tracking.store import experiment_url

    _, uri, _ = store
    line = ui_hint(ui, "alflow").splitlines()[1]  # the server is the UI: nothing to start, one address
    opens = shlex.split(line.split(": ", 1)[1])
    experiment_id = MlflowClient(uri).get_experiment_by_name("alflow").experiment_id
    assert opens == ["open", experiment_url(ui, experiment_id)]
    browser.get(opens[1])
    wait_for(lambda: "random fold0 seed0" in browser.find_element(By.TAG_NAME, "body").text, what="the runs")
    assert "/runs" in browser.current_url
