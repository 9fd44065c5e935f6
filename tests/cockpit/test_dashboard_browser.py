"""The dashboard in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
the page renders the task table and its charts; a kill with the valid token flips routing (checked
through a real Router); without the token it is refused.

Screenshots go to the test's tmp dir, or to $SAQMIGRATE_SCREENSHOTS (docs/cockpit/ was made that way)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from saqmigrate.cockpit import ramp as R
from saqmigrate.cockpit.analysis import Thresholds
from saqmigrate.cockpit.dashboard import Dashboard
from saqmigrate.cockpit.server import serve
from saqmigrate.runtime import flags as F
from saqmigrate.runtime import outcomes as O
from saqmigrate.runtime.registry import Registry
from saqmigrate.runtime.router import Router
from tests.conftest import missing

pytestmark = pytest.mark.slow

TOKEN = "browser-test-token"
FLIPPED, RAMPED, FAULTY = "shop.tasks.send_receipt", "shop.tasks.resize_image", "shop.tasks.sync_stock"
BROWSER_ENV = "SAQMIGRATE_REQUIRE_BROWSER"


def _driver():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (pip install selenium)", env=BROWSER_ENV)
    if not chromium or not chromedriver:
        missing(
            "Debian's chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)",
            env=BROWSER_ENV,
        )
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1500,900",
        "--disable-extensions",
        "--no-first-run",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


class Server:
    def __init__(self, app):
        self.app, self.port, self.ready = app, None, threading.Event()
        self.loop = self.stop_event = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        async def main():
            self.loop, self.stop_event = asyncio.get_running_loop(), asyncio.Event()
            await serve(self.app, "127.0.0.1", 0, ready=self._ready, stop=self.stop_event)

        asyncio.run(main())

    def _ready(self, port):
        self.port = port
        self.ready.set()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)


def _feed(ns):
    rec = O.OutcomeRecorder(ns.url, ns.name, bucket_seconds=60, flush_interval=0, metrics=None)
    now = time.time()
    for minute in range(40, 0, -1):
        at = now - minute * 60
        for i in range(30 + minute % 7):
            rec.record(FLIPPED, "celery", O.SUCCESS, duration=0.04 + (i % 5) / 100, wait=0.01, now=at)
            rec.record(RAMPED, "celery", O.SUCCESS, duration=0.2 + (i % 3) / 10, now=at)
            rec.record(FAULTY, "celery", O.SUCCESS, duration=0.05, now=at)
        if minute < 25:
            for i in range(20 + minute % 5):
                rec.record(FLIPPED, "saq", O.SUCCESS, duration=0.035 + (i % 5) / 100, wait=0.004, now=at)
                rec.record(RAMPED, "saq", O.SUCCESS, duration=0.22 + (i % 3) / 10, now=at)
                rec.record(
                    FAULTY, "saq", O.FAILURE if i % 12 == 0 else O.SUCCESS, duration=0.06, now=at, dead=i % 12 == 0
                )
    assert rec.flush()


def test_dashboard_in_chromium_kill_switch_with_and_without_the_token(ns, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("SAQMIGRATE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    driver = _driver()
    _feed(ns)
    ns.store.set_rule(FLIPPED, "saq", reason="week 2: move receipts")
    R.start(ns.store, RAMPED, "5,25,50,100", 1800, reason="week 3: ramp image resizing")
    ns.store.set_rule(FAULTY, "celery", reason="autopilot rolled it back: failure rate +8 pp")
    entry = {"queue": "shop", "params": [], "job": {}}
    registry = Registry.from_dicts({n: {**entry, "saq_function": n} for n in (FLIPPED, RAMPED, FAULTY)})
    router = Router(registry, F.FlagClient(ns.url, namespace=ns.name, poll_interval=0.1), saq_url=ns.url)
    app = Dashboard(ns.store, registry=registry, thresholds=Thresholds(min_runs=50), token=TOKEN, since=3600)
    try:
        assert router.decide(FLIPPED).backend == "saq"
        with Server(app) as srv:
            driver.get(f"http://127.0.0.1:{srv.port}/")
            WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.ID, "tasks")))
            rows = driver.find_elements(By.CSS_SELECTOR, "#tasks tbody tr")
            assert [r.get_attribute("data-task") for r in rows] == sorted([FLIPPED, RAMPED, FAULTY])
            assert len(driver.find_elements(By.CSS_SELECTOR, "#tasks svg.chart")) == 3
            assert len(driver.find_elements(By.CSS_SELECTOR, "#tasks svg.chart polyline")) == 6
            assert driver.find_elements(By.CSS_SELECTOR, "svg.chart circle.fail-saq")  # the faulty task's failures
            by_task = {r.get_attribute("data-task"): r for r in rows}
            assert by_task[FLIPPED].find_element(By.CSS_SELECTOR, "td.route").text == "saq"
            assert "active step 1/4 (5%)" in by_task[RAMPED].text
            assert "fail" in by_task[FAULTY].find_element(By.CSS_SELECTOR, "[class^=verdict]").text
            assert "routing normal" in driver.find_element(By.ID, "mode").text
            driver.save_screenshot(str(shots / "dashboard.png"))

            # without the token: refused, nothing changes
            driver.find_element(By.ID, "reason").send_keys("trying without a token")
            driver.find_element(By.ID, "kill").click()
            WebDriverWait(driver, 10).until(lambda d: "refused" in d.find_element(By.ID, "msg").text)
            assert "valid token" in driver.find_element(By.ID, "msg").text
            driver.save_screenshot(str(shots / "dashboard-refused.png"))
            time.sleep(0.3)
            assert ns.store.snapshot().mode == "normal" and router.decide(FLIPPED).backend == "saq"

            # with the token: the kill switch flips routing, checked through the router
            driver.find_element(By.ID, "token").send_keys(TOKEN)
            reason = driver.find_element(By.ID, "reason")
            reason.clear()
            reason.send_keys("error rate alert on receipts")
            driver.find_element(By.ID, "kill").click()
            WebDriverWait(driver, 10).until(lambda d: "kill switch ON" in d.find_element(By.ID, "msg").text)
            deadline = time.monotonic() + 5
            while router.decide(FLIPPED).backend != "celery" and time.monotonic() < deadline:
                time.sleep(0.05)
            d = router.decide(FLIPPED)
            assert (d.backend, d.reason) == ("celery", "kill_switch")
            WebDriverWait(driver, 10).until(lambda d: "KILL SWITCH ON" in d.find_element(By.ID, "mode").text)
            driver.save_screenshot(str(shots / "dashboard-killed.png"))
    finally:
        driver.quit()
        router.close()
    h = ns.store.history(3)
    assert h[1]["target"] == "mode" and h[1]["reason"] == "error rate alert on receipts"
    assert h[1]["actor"].startswith("dashboard@127.0.0.1")
    assert h[0]["target"] == f"ramp:{RAMPED}" and R.load_plans(ns.store)[RAMPED].state == R.PAUSED
