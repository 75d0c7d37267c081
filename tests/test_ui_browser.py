"""The Dagster UI in a real browser: `dagster dev` on 127.0.0.1, headless Chromium.

The asset graph must show the push, the dbt models upstream of it, and the push input's
blocking check; screenshots land in test-output/ui/. Skips (saying why) only where no
browser can be installed.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.ui]

REPO = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("TOLLGATE_TEST_OUTPUT", REPO / "test-output")) / "ui"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
STARTUP_TIMEOUT = 180  # seconds for `dagster dev` to answer (2 cores, cold imports)
PAGE_TIMEOUT = 90


def _skip(reason: str):
    print(f"SKIPPED browser test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser_binaries():
    """Debian's chromium + chromedriver; installed here when missing and we may (root, apt)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
                           env=env, capture_output=True, timeout=900)
        if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
            _skip(f"no browser: {CHROMIUM} / {CHROMEDRIVER} missing and could not be installed")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _skip("selenium is not installed (pip install -e '.[dev]')")
    return CHROMIUM, CHROMEDRIVER


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        # Polling interval, bounded by the deadline: readiness is the server's answer.
        time.sleep(0.5)
    raise TimeoutError(f"dagster dev did not answer {url}/server_info within {timeout} s")


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("ui_home")
    (home / "dagster").mkdir()
    port = free_port()
    env = {**os.environ, "TOLLGATE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    for secret in ("STRIPE_API_KEY", "TOLLGATE_ALERT_WEBHOOK"):
        env.pop(secret, None)
    log = (home / "dagster_dev.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"),
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, proc, STARTUP_TIMEOUT)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def chrome(browser_binaries, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = browser_binaries[0]
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1920,1200", f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(browser_binaries[1]), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_texts(driver, texts: list[str], timeout: float = PAGE_TIMEOUT) -> str:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def all_shown(d):
        body = d.find_element("tag name", "body").text
        return body if all(t in body for t in texts) else False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.5).until(all_shown)
    except TimeoutException:
        # What the page showed instead, for whoever reads the CI output.
        OUTPUT.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(OUTPUT / "failure.png"))
        shown = driver.find_element("tag name", "body").text
        (OUTPUT / "failure.txt").write_text(shown)
        missing = [t for t in texts if t not in shown]
        raise TimeoutException(f"not shown within {timeout} s: {missing} (see failure.png)") from None


def dismiss_first_visit_dialog(driver) -> None:
    """A fresh instance greets its first visitor with a newsletter dialog over the graph."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        skip = WebDriverWait(driver, 10, poll_frequency=0.5).until(
            ec.element_to_be_clickable(("xpath", "//button[normalize-space()='Skip']"))
        )
    except TimeoutException:
        return  # no dialog this time
    skip.click()
    WebDriverWait(driver, 10, poll_frequency=0.5).until(
        ec.invisibility_of_element_located(("xpath", "//button[normalize-space()='Skip']"))
    )


def zoom_until_shown(driver, texts: list[str], max_clicks: int = 6) -> str:
    """Zoomed out to fit, the graph draws nodes without their full names: zoom in until the
    names (and the nodes' check counts) are shown."""
    from selenium.common.exceptions import TimeoutException

    for _ in range(max_clicks):
        try:
            return wait_for_texts(driver, texts, timeout=5)
        except TimeoutException:
            zoom_in = driver.find_element("css selector", "[aria-label='zoom_in']")
            driver.execute_script("(arguments[0].closest('button') || arguments[0]).click()", zoom_in)
    return wait_for_texts(driver, texts, timeout=5)


def test_asset_graph_shows_the_push_its_dbt_models_and_its_blocking_check(dagster_ui, chrome):
    OUTPUT.mkdir(parents=True, exist_ok=True)

    # The lineage of the push: the asset, the dbt models it rests on.
    chrome.get(f"{dagster_ui}/assets/stripe_meter_events?view=lineage&lineageScope=upstream&lineageDepth=3")
    # The graph is laid out (group boxes drawn) before names are legible.
    wait_for_texts(chrome, ["push", "metering", "intermediate", "Not all upstream"])
    dismiss_first_visit_dialog(chrome)
    zoom_until_shown(chrome, ["stripe_meter_events", "fct_meter_push_input", "fct_usage_daily",
                              "int_usage_daily_contributions", "stg_stripe__billing_meters",
                              "Asset checks"])
    chrome.save_screenshot(str(OUTPUT / "push_lineage.png"))

    # The push input's checks, the blocking Great Expectations gate among them.
    chrome.get(f"{dagster_ui}/assets/marts/fct_meter_push_input?view=checks")
    wait_for_texts(chrome, ["gx_push_input_suite"])
    # The list opens on the first check by name; open the gate's own page.
    chrome.find_element("xpath", "//*[normalize-space(text())='gx_push_input_suite']").click()
    wait_for_texts(chrome, ["This is a blocking asset check",
                            "Great Expectations suite expectations/fct_meter_push_input.json"])
    chrome.save_screenshot(str(OUTPUT / "push_input_checks.png"))
    assert (OUTPUT / "push_lineage.png").stat().st_size > 10_000
