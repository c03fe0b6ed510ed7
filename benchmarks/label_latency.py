"""Time to next batch of ``alflow label``, and the first render of a batch in a browser.

Starts ``alflow label`` on a pool (default: elpv, 2,624 cells at 128 px; ``--synthetic N`` writes N
PNGs instead), then plays the inspector through the HTTP API for ``--rounds`` rounds: label the open
batch (a seeded random answer, about 30 % defects), submit, and time until the next batch is open
(what the page's 1 s status poll waits for). The first render is chromium's load of ``/?tab=...``
with its ``al.batch_size`` images (navigation start to the load event; selenium, when installed); the
large view's open is Space on the selected card until its full-resolution image is decoded.
Prints one JSON line. The machine's CPU may be shared: rerun before trusting a single number.

    python benchmarks/label_latency.py                       # elpv, 128 px, batches of 32, 6 rounds
    python benchmarks/label_latency.py --synthetic 2600 --rounds 4
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, data: dict | None = None) -> dict:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def synthetic_folder(root: Path, n: int, size: int) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for k in range(n):
        cls = "bad" if k % 10 < 3 else "good"
        (root / cls).mkdir(parents=True, exist_ok=True)
        pixels = (rng.random((size, size, 1)) * 12 + rng.integers(90, 150)).repeat(3, axis=2).astype(np.uint8)
        if cls == "bad":
            x, y = rng.integers(0, size - size // 4, 2)
            pixels[y:y + size // 4, x:x + size // 4] = 250
        Image.fromarray(pixels).save(root / cls / f"{k:05d}.png")
    return root


def first_render(url: str) -> tuple[float | None, float | None, str]:
    """Seconds from navigation start to the load event of the batch page (images included) in chromium,
    seconds from Space to the large view's image decoded (the file's own resolution), and the tab id the
    page chose (it leased the batch; the benchmark goes on as that tab)."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        from selenium import webdriver
    except ImportError:
        return None, None, "bench"
    if not (chromium and driver_path):
        return None, None, "bench"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        driver.get(url)  # the page redirects once to ?tab=ID; that second load is the one measured
        time.sleep(1.0)
        driver.get(driver.current_url)
        timing = driver.execute_script("const t = performance.getEntriesByType('navigation')[0];"
                                       "return [t.startTime, t.loadEventEnd];")
        # the large view: the name the page asks once is given first (its field would take the key)
        driver.execute_script("localStorage.setItem('alflowInspector', 'bench'); location.reload();")
        time.sleep(1.0)
        large = driver.execute_async_script("""const done = arguments[arguments.length - 1];
            const img = document.getElementById('large-img');
            if (!img || !document.querySelector('.card.current')) return done(null);
            const start = performance.now();
            const finish = () => img.decode().then(() => done((performance.now() - start) / 1000), () => done(null));
            img.addEventListener('load', finish, { once: true });
            document.dispatchEvent(new KeyboardEvent('keydown', { key: ' ', bubbles: true }));""")
        return (timing[1] - timing[0]) / 1000, large, driver.current_url.split("tab=")[1]
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=0, help="a synthetic folder of this many PNGs, not elpv")
    parser.add_argument("--size", type=int, default=128, help="dataset.image_size")
    parser.add_argument("--batch", type=int, default=32, help="al.batch_size")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("overrides", nargs="*", help="more alflow label overrides")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alflow-label-bench-"))
    port = free_port()
    if args.synthetic:
        root = synthetic_folder(work / "data", args.synthetic, 300)
        data = ["dataset=folder", f"dataset.root={root}", "dataset.negative_classes=[good]"]
    else:
        data = ["dataset=elpv"]
    command = [sys.executable, "-m", "alflow", "label", *data, f"dataset.image_size={args.size}",
               f"label.session_dir={work / 'session'}", f"label.port={port}", f"al.batch_size={args.batch}",
               f"tracking.uri=sqlite:///{work / 'mlflow.db'}", *args.overrides]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = (work / "server.log").open("w")
    server = subprocess.Popen(command, cwd=work, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}/"
    rng = random.Random(0)
    waits, page_seconds, image_seconds = [], [], []
    try:
        started = time.perf_counter()
        while True:
            if server.poll() is not None:
                raise SystemExit("alflow label exited:\n" + (work / "server.log").read_text()[-3000:])
            try:
                if call(base + "api/status")["open_round"] == 0:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        startup = time.perf_counter() - started
        render, large, tab = first_render(base)
        for r in range(args.rounds):
            t = time.perf_counter()
            with urllib.request.urlopen(base + f"?tab={tab}", timeout=60) as page:
                html = page.read().decode()
            page_seconds.append(time.perf_counter() - t)
            ids = [int(chunk.split('"', 1)[0]) for chunk in html.split('data-id="')[1:]]
            ids = [i for i, chunk in zip(ids, html.split('data-id="')[1:]) if 'data-open="1"' in chunk]
            t = time.perf_counter()
            for i in ids:
                urllib.request.urlopen(base + f"image/{i}", timeout=60).read()
            image_seconds.append(time.perf_counter() - t)
            for i in ids:
                call(base + "api/label", {"image_id": i, "label": "defect" if rng.random() < 0.3 else "good",
                                          "version": 0, "tab": tab, "seconds": 1.0})
            call(base + "api/submit", {"round": r, "tab": tab, "image_ids": ids})
            t = time.perf_counter()
            if r == args.rounds - 1:
                break
            while call(base + "api/status")["open_round"] != r + 1:
                time.sleep(0.05)
            waits.append(time.perf_counter() - t)
        print(json.dumps({
            "pool": "synthetic" if args.synthetic else "elpv", "images": args.synthetic or None,
            "image_size": args.size, "batch": args.batch, "rounds": args.rounds,
            "startup_to_first_batch_s": round(startup, 2),
            "time_to_next_batch_s": [round(w, 2) for w in waits],
            "median_s": round(statistics.median(waits), 2) if waits else None,
            "worst_s": round(max(waits), 2) if waits else None,
            "batch_page_html_s": round(statistics.median(page_seconds), 3),
            "batch_images_s": round(statistics.median(image_seconds), 3),
            "first_render_in_chromium_s": None if render is None else round(render, 3),
            "large_view_open_s": None if large is None else round(large, 3),
            "cpus": os.cpu_count()}))
    except BaseException:
        print((work / "server.log").read_text()[-4000:], file=sys.stderr)
        raise
    finally:
        server.terminate()
        server.wait(60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
