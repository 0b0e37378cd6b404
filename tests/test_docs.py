"""The documentation site as a reader meets it: `docs/build.py` builds it from the notebooks (here with only the tour
executed, to stay within the test budget; `make docs` executes them all), and headless Chromium opens every page: it
loads without console errors, every image has loaded, every link inside the site resolves, and every public name of
every module is on the API page."""
import importlib, subprocess, sys
from urllib.parse import urldefrag, urlparse

import pytest

from conftest import git_status, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def site(fresh_clone):
    "The site as `make docs` builds it (its default folder, _site), in a fresh clone of this checkout."
    pytest.importorskip('myst_nb', reason="the docs tools are not installed (pip install -e '.[dev]')")
    r = subprocess.run([sys.executable, 'docs/build.py', '--execute', 'index'], capture_output=True, text=True, timeout=900, cwd=fresh_clone)
    assert r.returncode == 0, r.stderr[-3000:]
    return fresh_clone/'_site'


def test_the_build_leaves_the_clone_clean(site, fresh_clone):
    "Everything the build writes is under the git-ignored _site/ and _docs/: git status shows nothing, and no executed copies land in the tree."
    assert (site/'index.html').is_file()
    assert git_status(fresh_clone) == []
    assert not (fresh_clone/'jupyter_execute').exists()
    assert sorted(p.name for p in fresh_clone.iterdir() if p.name.startswith('_')) == ['_docs', '_site']


def test_every_page_reads_well(site, browser):
    pages = sorted(site.glob('*.html'))
    assert {'index.html', 'search.html', 'api.html', '00_core.html', '20_cli.html'} <= {p.name for p in pages}
    broken, errors, images = [], [], 0
    for page in pages:
        browser.get_log('browser')  # forget the last page's
        browser.get(page.as_uri())
        wait_for(lambda: browser.execute_script("return document.readyState") == 'complete')
        errors += [(page.name, e['message']) for e in browser.get_log('browser') if e['level'] == 'SEVERE']
        shown = browser.execute_script("return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])")
        assert all(ok for _, ok in shown), (page.name, shown)
        images += len(shown)
        for href in browser.execute_script("return Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href'))"):
            url = urlparse(href)
            if url.scheme or url.netloc or not url.path: continue  # another site, or a place on this page
            if not (page.parent/urldefrag(url.path).url).exists(): broken.append((page.name, href))
    assert not errors, errors
    assert not broken, broken
    assert images >= 3  # the tour's figures, at least


def test_every_public_name_on_the_api_page(site, browser):
    browser.get((site/'api.html').as_uri())
    text = browser.find_element('tag name', 'body').text
    missing = [f'{m}.{n}' for m in ('core', 'recipes', 'images', 'data', 'augment', 'model', 'weights', 'optim', 'loop', 'learner',
                                     'checkpoint', 'distributed', 'logs', 'interpret', 'report', 'run', 'classifier', 'onnx',
                                     'inference', 'demo', 'cli')
               for n in importlib.import_module(f'cifar_fast.{m}').__all__ if n not in text]
    assert not missing, missing


def test_search_finds_a_name(site, browser):
    browser.get((site/'search.html').as_uri() + '?q=train_run')
    found = wait_for(lambda: browser.find_elements('css selector', 'ul.search li'), timeout=30)
    assert any('run' in li.text.lower() for li in found), [li.text for li in found]
