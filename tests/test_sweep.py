"""`cifar-fast sweep` on local Ray: killed mid-way (the whole process group, SIGKILL) and resumed without losing the
finished trials; bad inputs in one line; no Ray process left behind."""
import json, os, signal, subprocess, sys, time, unittest.mock

import psutil
import pytest

from conftest import CLI, run, wait_for

pytestmark = pytest.mark.slow  # every test here trains (tiny) models


def ray_processes() -> list:
    "Ray's own processes on this machine (its GCS server and raylets)."
    out = []
    for p in psutil.process_iter(['name', 'cmdline']):
        try:
            if p.info['name'] in ('raylet', 'gcs_server') or any('ray/core/src' in a for a in p.info['cmdline'] or []): out.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied): pass
    return out


@pytest.fixture
def data(tmp_path):
    from cifar_fast.data import synthetic_cifar10
    return synthetic_cifar10(tmp_path/'fake', n_train=20, n_test=2)


def _finished(out) -> list:
    "The trials whose last reported epoch is the 4th."
    done = []
    for f in (out/'sweep').glob('*/result.json'):
        lines = [json.loads(l) for l in f.read_text().splitlines() if l.strip()]
        if lines and lines[-1].get('epoch') == 4: done.append(f)
    return done


def test_sweep_killed_and_resumed(data, tmp_path):
    before = ray_processes()
    args = ['sweep', 'fast', 'lr_max=loguniform(0.01,3)', 'label_smoothing=uniform(0,0.3)', '--trials', '4', '--data', str(data),
            '--epochs', '4', '--bs', '16', '--widths', '8,8,8', '--precision', 'fp32', '--no-tta', '--cpus-per-trial', '1', '--concurrent', '1',
            '--out', str(tmp_path/'sw'), '--no-final']
    p = subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try: wait_for(lambda: p.poll() is not None or _finished(tmp_path/'sw'), timeout=300)
    finally:
        if p.poll() is None: os.killpg(p.pid, signal.SIGKILL)  # the driver and the Ray it started, mid-sweep
    out, err = p.communicate(timeout=60)
    done = _finished(tmp_path/'sw')
    assert p.returncode == -signal.SIGKILL and len(done) >= 1, f"the sweep ended before it could be killed: {err[-2000:]}"
    kept = {f: f.read_text() for f in done}
    wait_for(lambda: set(ray_processes()) <= set(before), timeout=30)  # the killed Ray is gone too
    refused = run(*args)
    assert refused.returncode == 2 and 'holds a sweep already: continue it with --resume' in refused.stderr, refused.stderr
    r = run(*args, '--resume')
    assert r.returncode == 0, r.stderr
    rows = (tmp_path/'sw'/'trials.csv').read_text().splitlines()
    assert len(rows) == 5 and 'stopped_early' in rows[0]
    assert all(f.read_text().startswith(text) for f, text in kept.items())  # finished trials kept as they were
    assert 'on the command line: --recipe fast:' in r.stdout
    assert set(ray_processes()) <= set(before), 'Ray processes left behind'


def test_a_ray_address_that_does_not_answer(tmp_path):
    "One line, and about as soon as any other bad input is refused (timed beside it: the same start-up), not after Ray's own minute of retries."
    t = time.perf_counter()
    ref = run('sweep', 'fast', 'lr_max=loguniform(3,0.1)', '--out', tmp_path/'ref')  # refused where the address is checked: after Ray's import
    ref_s, t = time.perf_counter() - t, time.perf_counter()
    r = run('sweep', 'fast', 'lr_max=loguniform(0.1,3)', '--address', '127.0.0.1:9', '--out', tmp_path/'sw')
    address_s = time.perf_counter() - t
    assert ref.returncode == 2 and 'low < high' in ref.stderr and r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and 'no Ray cluster answers at 127.0.0.1:9' in r.stderr, r.stderr
    assert address_s < 3 * ref_s, (address_s, ref_s)


@pytest.mark.parametrize('space, message', [(['lr_max=loguniform(0.1;3)'], 'lr_max='), (['momentum=uniform(0,1)'], "unknown recipe field 'momentum'"),
                                            (['tta=choice(0,3)'], 'recipe fast: TTA level must be 0, 1 or 2, got 3')])
def test_bad_spaces_one_line(space, message, tmp_path):
    r = run('sweep', 'fast', *space, '--out', tmp_path/'sw', cwd=tmp_path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr


def test_without_ray_says_how_to_install_it(data):
    from cifar_fast.core import MissingExtra
    from cifar_fast.sweep import sweep
    with unittest.mock.patch.dict(sys.modules, {'ray': None, 'ray.tune': None}):
        with pytest.raises(MissingExtra, match=r"sweeps needs the ray package: pip install 'cifar_fast\[sweep\]'"):
            sweep('fast', space=['lr_max=loguniform(0.1,3)'], data=data)
