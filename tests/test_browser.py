"""The demo app and the report page in a real browser: headless Chromium (Debian's chromium and chromium-driver), driven
by Selenium. Skipped, saying why, where the browser is not installed; `.ci/run` installs it."""
import io

import numpy as np
import pytest
from PIL import Image

from conftest import serving, wait_for
from cifar_fast.data import cifar_files
from cifar_fast.inference import load_classifier

pytestmark = pytest.mark.slow  # every test here trains or serves a model

def _errors(browser) -> list:
    "The browser console's errors since the last call."
    return [e['message'] for e in browser.get_log('browser') if e['level'] == 'SEVERE']


def test_demo_app_in_the_browser(fast_model, cifar_data, browser, tmp_path):
    "`cifar-fast demo`: upload real test images, read the label from the page, compare with load_classifier; a bad upload is a message."
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import NoSuchElementException
    d, _ = fast_model
    with serving(['demo', d/'fast.safetensors', '--data', cifar_data]) as (app, url):
        browser.get(url)
        wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, '#image input[type=file]'))
        clf = load_classifier(d/'fast.safetensors')
        images = cifar_files(cifar_data, subset=1, seed=7, split='test')[:3]
        (tmp_path/'notes.png').write_text('this is not an image')
        text = lambda css: browser.find_element(By.CSS_SELECTOR, css).text.strip()
        for path in images[:2] + [tmp_path/'notes.png'] + images[2:]:  # the app goes on serving after the bad upload
            browser.find_element(By.CSS_SELECTOR, '#image input[type=file]').send_keys(str(path))
            message = wait_for(lambda: text('#message'), errors=NoSuchElementException)
            if path.name == 'notes.png':
                assert message.startswith('Cannot classify this file.') and 'notes.png' in message, message
                assert not browser.find_elements(By.CSS_SELECTOR, '#top [data-testid="label-output-value"]'), 'a stale label is shown'
            else:
                label = clf.predict(path).label
                assert message.split()[0] == label, (path, message)
                assert text('#top [data-testid="label-output-value"]') == label
            browser.find_element(By.CSS_SELECTOR, '#image button[aria-label="Remove Image"]').click()
            wait_for(lambda: not text('#message'), errors=NoSuchElementException)  # cleared with the image: the next answer is the next image's
        assert 'Examples' in browser.find_element(By.TAG_NAME, 'body').text
        # the examples' thumbnails, as the browser loads them: every image of the page there and decoded
        images = wait_for(lambda: browser.execute_script(
            "const ims = Array.from(document.images); return ims.length >= 10 && ims.every(i => i.complete) ? ims.map(i => [i.src, i.naturalWidth]) : null"))
        assert len(images) >= 10 and all(w > 0 for _, w in images), images  # one example per class
        assert app.poll() is None, 'the app stopped'
        browser.save_screenshot(str(tmp_path/'demo.png'))
    assert 'Traceback' not in app.err, app.err
    assert url.rstrip('/') in app.out


def test_report_page_in_the_browser(fast_model, browser, tmp_path):
    "The training report's index.html loads offline with every image, no console error, and something on screen."
    d, _ = fast_model
    page = d/'report'/'index.html'
    _errors(browser)  # forget what earlier pages logged
    browser.get(page.as_uri())
    wait_for(lambda: browser.execute_script("return document.readyState") == 'complete')
    images = browser.execute_script("return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
    assert sorted(src for src, _ in images) == sorted(p.name for p in (d/'report').glob('*.png')), images
    assert all(ok for _, ok in images), images
    assert not _errors(browser)
    shot = np.asarray(Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert('L'), dtype=np.float32)
    assert shot.std() > 10, 'the screenshot is blank'
    text = browser.find_element('tag name', 'body').text
    assert 'test accuracy' in text and 'airplane' in text  # the results and the per-class table
