"""Run the tests of one of fastai's own notebooks against the installed fastai, with `IMPORT` (a line of Python) run
before them, and print as JSON the cells that raised. The notebook's `#| export` cells are left out: they define what
the installed module holds (the same code, byte for byte: ../shared/fastai-nbs/README.md), so the tests run on the
installed module's classes and functions, the ones an import of cifar_fast could change. Used by
tests/test_fastai_untouched.py, one process per run, so that one run's imports cannot reach another's.
Usage: python fastai_nb_runner.py NOTEBOOK IMPORT"""
import json, re, sys, tempfile
from pathlib import Path

from fastcore.nbio import dict2nb
from execnb.shell import CaptureShell

SKIP_FLAGS = ('slow', 'cuda')  # fastai's tst_flags: a GPU, or long runs with downloads
LEFT_OUT = {  # cells that need the network, and the cells that use what they made (nothing here reaches it)
    '19_callback.mixup': r'untar_data|(?<![.\w])dls\b|\bb\[0\]',  # PETS, then the loaders and the batch made from it
    '20_interpret': r'untar_data|test_learner|test_dls',   # MNIST_SAMPLE, then the learner trained on it
}


def directives(src: str) -> list:
    return [l[2:].strip() for l in src.splitlines() if l.startswith('#|')]


def runnable(nb_name: str, src: str) -> bool:
    d = directives(src)
    if any(f in d for f in SKIP_FLAGS) or 'eval: false' in d or 'eval:false' in d: return False
    if any(x.split()[0] in ('export', 'exports', 'default_exp') for x in d if x): return False  # the installed module instead
    if 'nbdev_export' in src or src.lstrip().startswith('!'): return False  # writes fastai's package here / shell commands
    pattern = LEFT_OUT.get(nb_name)
    return not (pattern and re.search(pattern, src))


SETUP = '''import fastai.{module} as _tested_module
globals().update({{k: v for k, v in vars(_tested_module).items() if not k.startswith('__')}})
from fastai.torch_core import defaults
_fastai_cbs = list(defaults.callbacks) if hasattr(defaults, 'callbacks') else None
{line}
if _fastai_cbs is not None:  # fastai's own modules imported since add their callbacks (ProgressCallback): the tests expect the module's alone
    _added = [c for c in defaults.callbacks if c not in _fastai_cbs]
    assert all(c.__module__.startswith('fastai.') for c in _added), _added
    defaults.callbacks[:] = _fastai_cbs'''


def main(path: str, line: str):
    path = Path(path)
    raw = json.loads(path.read_text())
    module = next(x.split()[1] for c in raw['cells'] for x in directives(''.join(c['source'])) if x.startswith('default_exp'))
    cells = [c for c in raw['cells'] if c['cell_type'] == 'code' and runnable(path.stem, ''.join(c['source']))]
    cells.insert(0, {'cell_type': 'code', 'source': SETUP.format(module=module, line=line), 'metadata': {}, 'outputs': [], 'execution_count': None})
    for i, c in enumerate(cells): c['metadata']['n'] = i
    nb = dict2nb({**raw, 'cells': cells})
    failed = []
    with tempfile.TemporaryDirectory() as d:
        shell = CaptureShell(d)
        for cell in nb.cells:
            shell.exc = None
            shell.cell(cell, timeout=600)
            if shell.exc is not None:
                first = next((l for l in ''.join(cell.source).splitlines() if l.strip() and not l.startswith('#')), '')
                failed.append([cell.metadata['n'], first[:80], f"{type(shell.exc).__name__}: {str(shell.exc)[:300]}"])
    print(json.dumps({'cells': len(cells), 'failed': failed}))


if __name__ == '__main__': main(*sys.argv[1:3])
