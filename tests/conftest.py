import contextlib, os, textwrap, shutil, socket, subprocess, sys, time, urllib.error, urllib.request
from pathlib import Path

import pytest

from cifar_fast.data import synthetic_cifar10

REAL_DATA = os.environ.get('CIFAR_FAST_DATA')
CLI = str(Path(sys.executable).parent/'cifar-fast')  # the console script, as a user runs it

# Runs `cifar-fast` in this process after sending itself signal SIG at the start of training batch N (counted over the run).
KILLER = textwrap.dedent('''
    import os, signal, sys
    from cifar_fast.core import quiet_imports
    with quiet_imports(): from fastai.learner import Learner
    from cifar_fast.cli import main
    at, sig, n = int(sys.argv[1]), getattr(signal, sys.argv[2]), [0]
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a terminal, even if whatever started this process ignores SIGINT
    one_batch = Learner._do_one_batch
    def counting(self):
        if self.training:
            n[0] += 1
            if n[0] == at: os.kill(os.getpid(), sig)
        one_batch(self)
    Learner._do_one_batch = counting
    sys.exit(main(sys.argv[3:]))
''')


def run(*args, timeout=600, **kw) -> subprocess.CompletedProcess:
    "Run `cifar-fast *args` as a user does, in a new process; its output as text."
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


def free_port() -> int:
    "A port nobody listens on now (the caller retries if another process takes it first)."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(what, timeout=60, every=0.25, errors=()):
    "The first true value `what()` returns within `timeout` seconds; `errors` are exceptions that mean 'not yet'."
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if (v := what()): return v
        except errors: pass
        time.sleep(every)
    raise TimeoutError(f"waited {timeout}s for {getattr(what, '__name__', what)}")


def _answers(url) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r: return r.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError): return False


@contextlib.contextmanager
def serving(args, attempts=5, **kw):
    "Run `cifar-fast *args --port PORT` on a free port until it answers (another port if that one was taken meanwhile); yield (process, url); stop it with SIGTERM, its output then in `process.out`, `process.err`."
    for _ in range(attempts):
        port = free_port()
        p = subprocess.Popen([CLI, *map(str, args), '--port', str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
        url = f'http://127.0.0.1:{port}/'
        wait_for(lambda: p.poll() is not None or _answers(url), timeout=120)
        if p.poll() is None: break
        p.out, p.err = p.communicate()
        if 'port' not in p.err: raise RuntimeError(f"the server stopped: {p.err}")
    else: raise RuntimeError(f"no free port in {attempts} attempts: {p.err}")
    try: yield p, url
    finally:
        p.terminate()
        p.out, p.err = p.communicate(timeout=60)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    "Every test extracts archives into its own cache, never the user's."
    monkeypatch.setenv('CIFAR_FAST_CACHE', str(tmp_path/'cache'))


@pytest.fixture
def fake(tmp_path) -> Path:
    return synthetic_cifar10(tmp_path/'fake')


@pytest.fixture(scope='session')
def real_data(tmp_path_factory) -> Path:
    "The real CIFAR-10 archive or folder from CIFAR_FAST_DATA, extracted once per session; skip when unset."
    if not REAL_DATA: pytest.skip('CIFAR_FAST_DATA is not set')
    from cifar_fast.data import get_cifar10
    return get_cifar10(REAL_DATA, cache_dir=tmp_path_factory.mktemp('real-cache'))


@pytest.fixture(scope='session')
def cifar_data(request, tmp_path_factory) -> Path:
    "The real CIFAR-10 when CIFAR_FAST_DATA is set, else a synthetic stand-in with as many images as the end-to-end tests use (100 per class and split): those tests run on every clone."
    if REAL_DATA: return request.getfixturevalue('real_data')
    return synthetic_cifar10(tmp_path_factory.mktemp('synthetic')/'cifar10', n_train=100, n_test=100, ext='jpg')


@pytest.fixture(scope='session')
def small_model(tmp_path_factory) -> tuple:
    "A small fast-recipe model trained one epoch on synthetic data, shipped as a weights file and an ONNX file: (folder with m.safetensors and m.onnx, its test images)."
    from cifar_fast.augment import cifar_dls
    from cifar_fast.learner import cifar_learner
    from cifar_fast.onnx import export_onnx
    from cifar_fast.recipes import get_recipe
    d = tmp_path_factory.mktemp('small-model')
    r = get_recipe('fast', bs=40, epochs=1, widths=(8, 16, 16), precision='fp32')
    learn = cifar_learner(cifar_dls(synthetic_cifar10(d/'fake', n_train=4, n_test=2), recipe=r, seed=0), recipe=r)
    with learn.no_logging(): learn.fit_recipe()
    learn.export_weights(d/'m.safetensors')
    export_onnx(learn, d/'m.onnx')
    return d, sorted((d/'fake'/'test').rglob('*.png'))


FAST_SMALL = ['--recipe', 'fast', '--subset', '100', '--bs', '100', '--epochs', '4', '--widths', '32,64,64', '--seed', '0',
              '--precision', 'fp32']


@pytest.fixture(scope='session')
def fast_model(cifar_data, tmp_path_factory):
    "A small fast-recipe model trained on 1,000 images (real ones when CIFAR_FAST_DATA is set) by the console script, with a report and TensorBoard logs: (folder, stdout)."
    d = tmp_path_factory.mktemp('fast')
    r = run('train', '--data', cifar_data, *FAST_SMALL, '--out', d/'fast.pkl', '--report', d/'report', '--tensorboard', d/'tb')
    assert r.returncode == 0, r.stderr
    return d, r.stdout


# Headless Chromium (Debian's chromium and chromium-driver), driven by Selenium: for the demo, the report page and the docs site.
CHROMIUM = shutil.which('chromium') or '/usr/bin/chromium'
DRIVER = shutil.which('chromedriver') or '/usr/bin/chromedriver'
FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync', '--window-size=1280,1600']


@pytest.fixture(scope='module')
def browser():
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip('headless Chromium is not installed here (apt-get install chromium chromium-driver; .ci/run does)')
    webdriver = pytest.importorskip('selenium.webdriver', reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    for flag in FLAGS: options.add_argument(flag)
    options.binary_location = CHROMIUM
    options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)  # a driver of our own: selenium downloads none
    yield driver
    driver.quit()


def git_status(repo:Path) -> list:
    "`git status --porcelain` of `repo`, untracked files listed one by one: what a command left in the tree that git would show."
    r = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=all'], cwd=repo, capture_output=True, text=True, check=True)
    return r.stdout.splitlines()


@pytest.fixture(scope='module')
def fresh_clone(tmp_path_factory) -> Path:
    "This checkout as a fresh clone of it would be: the files git tracks and the new ones it does not ignore, committed in a new repository. What runs there dirties the copy, never the checkout."
    root = Path(__file__).resolve().parents[1]
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=root, capture_output=True)
    if listed.returncode: pytest.skip('not a git checkout')
    dest = tmp_path_factory.mktemp('clone')/'cifar_fast'
    for name in filter(None, listed.stdout.decode().split('\0')):
        if (root/name).is_file():
            (dest/name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root/name, dest/name)
    git = ['git', '-c', 'user.name=test', '-c', 'user.email=test@example.com']
    for cmd in (['init', '-q'], ['add', '-A'], ['commit', '-q', '-m', 'fresh clone']): subprocess.run(git + cmd, cwd=dest, check=True)
    assert git_status(dest) == []
    return dest


def untrained_accuracy(data, recipe:str, subset:int, seed:int=0, **changes) -> float:
    "The test accuracy of `recipe`'s net (with `changes`) as `cifar-fast train --seed SEED` starts it, before any training, on the test images of `subset` per class: what a trained model is measured against."
    from fastai.torch_core import set_seed
    from cifar_fast.augment import cifar_dls
    from cifar_fast.learner import cifar_learner
    from cifar_fast.recipes import get_recipe
    set_seed(seed)
    r = get_recipe(recipe, precision='fp32', **changes)
    learn = cifar_learner(cifar_dls(data, recipe=r, subset=subset, seed=seed), recipe=r)
    with learn.no_logging(): preds, targs = learn.get_preds()
    return float((preds.argmax(1) == targs).float().mean())
