"""Drives `charlstm serve`'s page in headless Chromium, as a user would, through WebDriver.

    python scripts/check_browser.py http://127.0.0.1:PORT PRIME SCREENSHOT.png

Types PRIME, presses Generate and waits for the whole streamed text; starts a long generation,
waits until streamed text shows, presses Stop; opens the inspect view, inspects PRIME repeated,
checks the coloured character spans, and saves a screenshot. Needs `selenium` from PyPI, Debian's
`chromium` and `chromium-driver` (paths from CHARLSTM_CHROMIUM and CHARLSTM_CHROMEDRIVER, by
default /usr/bin/chromium and /usr/bin/chromedriver). Run by crates/charlstm/tests/browser.rs.
"""

import os
import re
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SHORT_LENGTH = 80
# The page shows at most this many generated characters (SHOWN_AT_MOST in page.html).
SHOWN_AT_MOST = 100_000


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHARLSTM_CHROMIUM", "/usr/bin/chromium")
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1200,1400"]:
        options.add_argument(argument)
    service = Service(executable_path=os.environ.get("CHARLSTM_CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def set_value(driver, element_id, value):
    """Clears a field and types into it, key by key."""
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def text_of(driver, element_id):
    return driver.find_element(By.ID, element_id).get_attribute("textContent")


def streamed_so_far(driver):
    """How many characters the page says it has streamed while generating, else 0."""
    shown = re.match(r"generating… (\d+) characters", text_of(driver, "generate-status"))
    return int(shown.group(1)) if shown else 0


def main():
    url, prime, screenshot = sys.argv[1], sys.argv[2], sys.argv[3]
    driver = browser()
    wait = WebDriverWait(driver, 60, poll_frequency=0.02)
    try:
        driver.get(url)
        wait.until(lambda d: text_of(d, "model").startswith("model: "))

        # A short generation streams to its end.
        set_value(driver, "prime", prime)
        set_value(driver, "length", str(SHORT_LENGTH))
        set_value(driver, "seed", "7")
        driver.find_element(By.ID, "generate-button").click()
        wait.until(lambda d: text_of(d, "generate-status") == f"{SHORT_LENGTH} characters")
        generated = text_of(driver, "generated")
        assert len(generated) == SHORT_LENGTH, generated
        assert text_of(driver, "output") == prime + generated
        assert driver.find_element(By.ID, "generate-button").is_enabled()

        # A long one shows text while it runs, and Stop ends it.
        set_value(driver, "length", "10000000")
        driver.find_element(By.ID, "generate-button").click()
        wait.until(lambda d: streamed_so_far(d) >= 20)
        assert len(text_of(driver, "generated")) >= 20, "the streamed text is on screen"
        assert not driver.find_element(By.ID, "generate-button").is_enabled()
        driver.find_element(By.ID, "stop-button").click()
        wait.until(lambda d: text_of(d, "generate-status").startswith("stopped after "))
        stopped_at = int(re.match(r"stopped after (\d+)", text_of(driver, "generate-status")).group(1))
        assert 20 <= stopped_at < 10_000_000, stopped_at
        on_screen = len(text_of(driver, "generated"))
        assert on_screen == min(stopped_at, SHOWN_AT_MOST), (on_screen, stopped_at)
        print(f"the page streamed {SHORT_LENGTH} characters, then stopped a long generation after {stopped_at}")

        # The inspect view starts from the text on screen and colours every character.
        driver.find_element(By.ID, "tab-inspect").click()
        assert driver.find_element(By.ID, "inspect").is_displayed()
        assert not driver.find_element(By.ID, "generate").is_displayed()
        assert driver.find_element(By.ID, "inspect-text").get_attribute("value").startswith(prime)
        text = prime * 6
        set_value(driver, "inspect-text", text)
        driver.find_element(By.ID, "inspect-button").click()
        wait.until(lambda d: "bits per character" in text_of(d, "inspect-status"))
        blocks = driver.find_elements(By.CSS_SELECTOR, "#inspect-result pre")
        assert len(blocks) >= 2, f"surprisal and at least one unit, got {len(blocks)} blocks"
        for block in blocks:
            spans = block.find_elements(By.TAG_NAME, "span")
            assert len(spans) == len(text), (len(spans), len(text))
        surprisal = blocks[0].find_elements(By.TAG_NAME, "span")
        coloured = [s for s in surprisal[1:] if s.value_of_css_property("background-color") not in
                    ("rgba(0, 0, 0, 0)", "transparent")]
        assert len(coloured) == len(text) - 1, f"{len(coloured)} of {len(text) - 1} characters coloured"
        assert "bits; expected" in surprisal[1].get_attribute("title")
        print(f"the inspect view coloured {len(blocks)} blocks of {len(text)} characters")

        assert driver.save_screenshot(screenshot), "the screenshot was saved"
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
