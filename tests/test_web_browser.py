"""The phone page in real Chromium (Debian's chromium + chromium-driver, via selenium),
at a phone's 390x844, against a real daemon and a real Mosquitto."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon_helpers import DaemonProcess, daemons_in, mqtt_section, wait_until, warm_loudness_cache
from support.broker import MosquittoBroker, MqttProbe, free_port
from web_helpers import flac_bytes, serving

pytestmark = pytest.mark.timeout(240)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (./scripts/setup installs the test extras)"
)
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip(
        "no chromium and chromium-driver here (apt-get install chromium chromium-driver; "
        "./scripts/setup does on a non-Pi machine)",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402 - only once we know it is there
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

PHONE = {"width": 390, "height": 844, "pixelRatio": 3.0}


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DaemonProcess, MqttProbe]]:
    """A daemon with MQTT and its page, and a test client on the same broker."""
    folder = tmp_path_factory.mktemp("web-browser")
    warm_loudness_cache("pink-noise")
    broker = MosquittoBroker(directory=folder / "broker").start()
    probe = MqttProbe(broker).connect()
    try:
        with daemons_in(folder) as make:
            port = free_port()
            daemon = make(mqtt_section(broker, "bedroom") + f'[web]\nlisten = "127.0.0.1:{port}"\n')
            daemon.web_port = port
            (daemon.directory / "sounds").mkdir()
            daemon.start()
            wait_until(lambda: serving(port), "the page to serve")
            yield daemon, probe
    finally:
        probe.disconnect()
        broker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, the size of a phone."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: Any, device: tuple[DaemonProcess, MqttProbe]) -> Any:
    """The page, loaded and following the device."""
    daemon, _ = device
    browser.get(f"http://localhost:{daemon.web_port}/")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "now-title").text != "—")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#list .sound"))
    return browser


def tap(page: Any, element: Any) -> None:
    """Scroll ``element`` to the middle of the screen (clear of the sticky bar), tap it."""
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def tap_css(page: Any, css: str) -> None:
    """Tap the element ``css`` finds, finding it again if the page redrew it meanwhile
    (the sounds and presets lists are redrawn whenever the device tells of a change)."""

    def tapped(driver: Any) -> bool:
        tap(driver, driver.find_element(By.CSS_SELECTOR, css))
        return True

    WebDriverWait(page, 10, ignored_exceptions=(StaleElementReferenceException,)).until(tapped)


def test_the_page_is_phone_sized(page: Any) -> None:
    assert page.execute_script("return window.innerWidth") == PHONE["width"]
    overflow = page.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    assert not overflow  # nothing sticks out sideways at 390 px
    # Nor on the narrowest phones the page is made for.
    page.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 360, "height": 740, "deviceScaleFactor": 3, "mobile": True},
    )
    try:
        assert page.execute_script("return window.innerWidth") == 360
        assert not page.execute_script(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
        )
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_tap_play_and_the_daemon_plays(page: Any, device: tuple[DaemonProcess, MqttProbe]) -> None:
    daemon, _ = device
    assert daemon.status()["state"] == "stopped"
    tap(page, page.find_element(By.ID, "play"))
    wait_until(lambda: daemon.status()["state"] == "playing", "the daemon to play")
    WebDriverWait(page, 10).until(lambda d: d.find_element(By.ID, "play").text == "Stop")
    tap(page, page.find_element(By.ID, "play"))
    wait_until(lambda: daemon.status()["state"] != "playing", "the daemon to stop")


def test_a_volume_set_over_mqtt_shows_on_the_page_within_2_s(
    page: Any, device: tuple[DaemonProcess, MqttProbe]
) -> None:
    daemon, probe = device
    target = 37 if daemon.status()["volume"] != 37 else 38
    probe.publish("sleepsound/bedroom/set", json.dumps({"volume": target}))
    WebDriverWait(page, 2).until(
        lambda d: d.find_element(By.ID, "vol-text").text.startswith(f"Volume {target} ")
    )
    assert page.find_element(By.ID, "vol").get_attribute("value") == str(target)


def test_an_uploaded_flac_appears_and_plays(
    page: Any, device: tuple[DaemonProcess, MqttProbe], tmp_path: Path
) -> None:
    daemon, _ = device
    flac = tmp_path / "Soft Rain.flac"
    flac.write_bytes(flac_bytes(tmp_path, 3, seed=5))
    page.find_element(By.ID, "files").send_keys(str(flac))
    WebDriverWait(page, 30).until(lambda d: "added" in d.find_element(By.ID, "upload-log").text)
    listed = '#list .sound[data-id="soft-rain"]'
    WebDriverWait(page, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, listed).text == "Soft Rain"
    )
    tap_css(page, listed)
    wait_until(
        lambda: (doc := daemon.status())["sound"] == "soft-rain" and doc["state"] == "playing",
        "the upload to play",
    )
    WebDriverWait(page, 10).until(lambda d: d.find_element(By.ID, "now-title").text == "Soft Rain")
    tap(page, page.find_element(By.ID, "play"))


def test_a_text_file_named_mp3_is_an_error_on_the_page_and_leaves_nothing(
    page: Any, device: tuple[DaemonProcess, MqttProbe], tmp_path: Path
) -> None:
    daemon, _ = device
    before = sorted(os.listdir(daemon.directory / "sounds"))
    fake = tmp_path / "lullaby.mp3"
    fake.write_text("not a song at all\n" * 100)
    page.find_element(By.ID, "files").send_keys(str(fake))
    line = WebDriverWait(page, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#upload-log li.error")
    )[0]
    assert line.text.startswith("lullaby.mp3: ") and "lullaby.mp3" in line.text[13:]
    assert sorted(os.listdir(daemon.directory / "sounds")) == before


COLOURS = """
const seen = new Set();
for (const el of [document.documentElement, ...document.querySelectorAll('*')]) {
  const style = getComputedStyle(el);
  if (style.display === 'none' || el.closest('[hidden], dialog:not([open])')) continue;
  for (const key of ['color', 'backgroundColor', 'borderTopColor']) {
    seen.add(style[key] + ' ' + el.tagName + '#' + el.id + '.' + el.className + ' ' + key);
  }
}
return [...seen];
"""


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_night_theme_has_no_bright_white(page: Any, scheme: str) -> None:
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    try:
        colours = page.execute_script(COLOURS)
        background = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    bright = []
    for colour in colours:
        numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", colour.split(")")[0])]
        if len(numbers) >= 3 and (len(numbers) < 4 or numbers[3] > 0) and min(numbers[:3]) > 225:
            bright.append(colour)
    assert not bright, f"bright white in the {scheme} theme: {bright}"
    r, g, b = (float(n) for n in re.findall(r"[\d.]+", background)[:3])
    if scheme == "dark":
        assert max(r, g, b) < 40  # a night page is nearly black


CONTRASTS = """
const channels = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
const luminance = ([r, g, b]) => {
  const lin = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
};
const backdrop = (el) => {
  for (let at = el; at; at = at.parentElement) {
    const c = channels(getComputedStyle(at).backgroundColor);
    if (c.length === 3 || c[3] === 1) return c;
  }
  return channels(getComputedStyle(document.documentElement).backgroundColor);
};
const found = [];
for (const el of document.querySelectorAll('body *')) {
  const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.data)
    .join('').trim();
  if (!text || !el.getClientRects().length) continue;
  if (el.closest('[hidden], dialog:not([open]), .sr')) continue;
  const style = getComputedStyle(el);
  const [a, b] = [luminance(channels(style.color)), luminance(backdrop(el))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(style.fontSize);
  const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
  found.push([text.slice(0, 30), Math.round(ratio * 100) / 100, large]);
}
return found;
"""


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_every_text_meets_wcag_aa_contrast(page: Any, scheme: str) -> None:
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    try:
        texts = page.execute_script(CONTRASTS)
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert len(texts) > 20  # the page's labels, buttons and sound titles were all read
    poor = [(text, ratio) for text, ratio, large in texts if ratio < (3.0 if large else 4.5)]
    assert not poor, f"below WCAG AA in the {scheme} theme: {poor}"


def test_the_device_panel_shows_the_broker_and_the_output(page: Any) -> None:
    def facts(driver: Any) -> str:
        tap(driver, driver.find_element(By.ID, "device-refresh"))
        return driver.find_element(By.ID, "facts").text

    WebDriverWait(page, 30, poll_frequency=0.5).until(
        lambda d: "connected to 127.0.0.1" in facts(d) and "not connected" not in facts(d)
    )
    text = page.find_element(By.ID, "facts").text
    assert "clock · silent" in text and "GB free" in text and "0.1.0" in text


def test_a_preset_saved_on_the_page_plays_from_it(
    page: Any, device: tuple[DaemonProcess, MqttProbe]
) -> None:
    daemon, _ = device
    assert daemon.request({"sound": "rain", "volume": 21})["status"] == "ok"
    name = page.find_element(By.ID, "preset-name")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", name)
    name.send_keys("web-night")
    tap(page, page.find_element(By.CSS_SELECTOR, "#preset-form button"))
    wait_until(lambda: "web-night" in daemon.status()["presets"], "the preset to be saved")
    assert daemon.request({"sound": "brown-noise"})["status"] == "ok"
    tap_css(page, '#preset-list button[aria-label="Play preset web-night"]')
    wait_until(
        lambda: (doc := daemon.status())["preset"] == "web-night" and doc["state"] == "playing",
        "the preset to play",
    )
    assert daemon.status()["sound"] == "rain"
    WebDriverWait(page, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: (
            d.find_element(
                By.CSS_SELECTOR, '#preset-list button[aria-label="Play preset web-night"]'
            ).get_attribute("aria-current")
            == "true"
        )
    )
    daemon.request({"action": "stop"})


def test_the_layer_from_the_page(page: Any, device: tuple[DaemonProcess, MqttProbe]) -> None:
    daemon, _ = device
    layer = page.find_element(By.ID, "layer-sound")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", layer)
    Select(layer).select_by_value("brown-noise")
    wait_until(
        lambda: (daemon.status()["layer"] or {}).get("sound") == "brown-noise",
        "the layer to change",
    )
    WebDriverWait(page, 10).until(
        lambda d: d.find_element(By.ID, "layer-name").text == "Layer: Brown noise"
    )
    tap(page, page.find_element(By.ID, "layer-on"))
    wait_until(lambda: daemon.status()["layer"] is None, "the layer to go off")


def test_with_a_password_the_page_asks_for_it_first(browser: Any, tmp_path: Path) -> None:
    password_file = tmp_path / "web-password"
    password_file.write_text("night owl\n")
    with daemons_in(tmp_path) as make:
        port = free_port()
        daemon = make(f'[web]\nlisten = "127.0.0.1:{port}"\npassword_file = "{password_file}"\n')
        daemon.start()
        wait_until(lambda: serving(port), "the page to serve")
        browser.delete_all_cookies()
        browser.get(f"http://localhost:{port}/")
        WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/login.html"))
        field = browser.find_element(By.ID, "password")
        field.send_keys("wrong")
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        WebDriverWait(browser, 10).until(
            lambda d: d.find_element(By.ID, "message").text == "wrong password"
        )
        field.clear()
        field.send_keys("night owl")
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "now-title").text != "—")
        assert not browser.execute_script("return document.cookie")  # HttpOnly: not for scripts
        tap(browser, browser.find_element(By.ID, "play"))
        wait_until(lambda: daemon.status()["state"] == "playing", "the daemon to play")


def test_choosing_the_output_on_the_page_moves_the_sound_under_its_ceiling(
    browser: Any, tmp_path: Path
) -> None:
    outputs = (
        '[outputs.pillow]\nkind = "clock"\n[outputs.headphones]\nkind = "clock"\nmax_volume = 40\n'
    )
    with daemons_in(tmp_path) as make:
        port = free_port()
        daemon = make(outputs + f'[web]\nlisten = "127.0.0.1:{port}"\n')
        daemon.start()
        wait_until(lambda: serving(port), "the page to serve")
        browser.get(f"http://localhost:{port}/")
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "outputs").is_displayed())
        assert daemon.status()["output"]["name"] == "pillow"
        tap_css(browser, '#output-list button[aria-label="Play on headphones"]')
        wait_until(
            lambda: daemon.status()["output"]["name"] == "headphones", "the switch of output"
        )
        assert daemon.status()["max_volume"] == 40
        WebDriverWait(browser, 10).until(
            lambda d: d.find_element(By.ID, "vol-text").text.endswith("ceiling 40")
        )
        pressed = browser.find_element(
            By.CSS_SELECTOR, '#output-list button[aria-label="Play on headphones"]'
        )
        assert pressed.get_attribute("aria-pressed") == "true"
        assert "ceiling 40" in browser.find_element(By.ID, "output-facts").text


def test_a_program_added_on_the_page_is_skipped_and_switched_off_there(
    page: Any, device: tuple[DaemonProcess, MqttProbe]
) -> None:
    daemon, _ = device

    def program() -> dict[str, Any] | None:
        found = [p for p in daemon.status()["programs"] if p["name"] == "web-wake"]
        return found[0] if found else None

    WebDriverWait(page, 10).until(lambda d: d.find_element(By.ID, "programs").is_displayed())
    name = page.find_element(By.ID, "program-name")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", name)
    name.send_keys("web-wake")
    page.execute_script("document.getElementById('program-at').value = '07:00'")
    Select(page.find_element(By.ID, "program-sound")).select_by_value("rain")
    tap(page, page.find_element(By.CSS_SELECTOR, "#program-form button"))
    wait_until(lambda: program() is not None, "the program to be added")
    assert program() == {
        "name": "web-wake",
        "kind": "wake",
        "at": "07:00",
        "enabled": True,
        "skip_next": False,
    }
    WebDriverWait(page, 10).until(
        lambda d: "web-wake" in d.find_element(By.ID, "program-next").text
    )
    tap_css(page, 'button[aria-label="Skip the next web-wake"]')
    wait_until(lambda: program()["skip_next"], "the next wake to be skipped")
    tap_css(page, 'button[aria-label="web-wake enabled"]')
    wait_until(lambda: not program()["enabled"], "the program to be switched off")
    daemon.request({"program_remove": "web-wake"})
