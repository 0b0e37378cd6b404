"""fastai stays fastai: importing cifar_fast replaces no attribute of any fastai class or module, and fastai's own
notebook tests (fastai 2.8's, in ../shared/fastai-nbs) pass with cifar_fast imported wherever they pass without it."""
import json, os, subprocess, sys, textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FASTAI_NBS = HERE.parent.parent/'shared'/'fastai-nbs'
NOTEBOOKS = sorted(p.stem for p in FASTAI_NBS.glob('*.ipynb'))


def _run_notebook(name: str, line: str, tmp_path) -> dict:
    r = subprocess.run([sys.executable, str(HERE/'fastai_nb_runner.py'), str(FASTAI_NBS/f'{name}.ipynb'), line],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path, env={**os.environ, 'MPLBACKEND': 'Agg'})
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not NOTEBOOKS, reason=f'no fastai notebooks at {FASTAI_NBS}')
@pytest.mark.parametrize('name', NOTEBOOKS)
def test_fastai_notebook_passes_with_cifar_fast_imported(name, tmp_path):
    "The notebook's tests on the installed fastai, once after `import fastai.vision.all` (the fastai modules cifar_fast.all imports) and once after `import cifar_fast.all`: the same cells pass. The cells that fail without cifar_fast too are printed: in 13a_learner, tests that expect fastai's default callbacks as they stand part-way through that notebook."
    alone, with_cf = _run_notebook(name, 'import fastai.vision.all', tmp_path), _run_notebook(name, 'import cifar_fast.all', tmp_path)
    assert with_cf['cells'] == alone['cells'] > 1
    assert [f[0] for f in with_cf['failed']] == [f[0] for f in alone['failed']], with_cf['failed']
    print(f"{name}: {alone['cells'] - len(alone['failed'])} of {alone['cells']} cells pass with and without cifar_fast; "
          f"failing without it too: {[f[1] for f in alone['failed']]}")


SNAPSHOT = textwrap.dedent('''
    import importlib, pkgutil, sys, warnings
    warnings.simplefilter('ignore')
    import fastai
    def load_all(package):
        for m in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):
            try: importlib.import_module(m.name)
            except Exception: pass  # an optional dependency that is not installed (fastai.medical, ...)
    def snapshot():
        "(owner, name) -> the object, for every attribute of every fastai module and of every class defined in fastai; fastai's defaults too."
        seen = {}
        for mname, mod in list(sys.modules.items()):
            if not (mname == 'fastai' or mname.startswith('fastai.')) or mod is None: continue
            for k, v in list(vars(mod).items()):
                seen[(mname, k)] = v
                if isinstance(v, type) and getattr(v, '__module__', '').startswith('fastai'):
                    for a, w in list(vars(v).items()): seen[(f'{v.__module__}.{v.__qualname__}', a)] = w
        from fastai.torch_core import defaults
        for k, v in vars(defaults).items(): seen[('fastai.torch_core.defaults', k)] = v
        seen[('fastai.torch_core.defaults', 'callbacks (contents)')] = tuple(getattr(defaults, 'callbacks', ()))
        return seen
    load_all(fastai)
    before = snapshot()
    import cifar_fast, cifar_fast.all
    load_all(cifar_fast)
    load_all(fastai)  # anything cifar_fast's imports brought in is compared as it is now
    after = snapshot()
    changed = sorted(f'{o}.{k}' for (o, k), v in before.items() if (o, k) in after and after[(o, k)] is not v
                     and not (isinstance(v, tuple) and after[(o, k)] == v))
    gone = sorted(f'{o}.{k}' for (o, k) in before if (o, k) not in after)
    n_cf = sum(m.startswith('cifar_fast') for m in sys.modules)
    print('checked', len(before), 'replaced', changed, 'removed', gone, 'cifar_fast modules', n_cf)
''')


def test_importing_cifar_fast_replaces_no_fastai_attribute(tmp_path):
    r = subprocess.run([sys.executable, '-c', SNAPSHOT], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    line = r.stdout.strip().splitlines()[-1]
    assert " replaced [] removed [] " in line, line
    assert int(line.split()[1]) > 5000 and int(line.split()[-1]) >= 20, line  # it looked at fastai, and cifar_fast's modules were imported
