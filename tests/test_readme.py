"""The README tells the truth by construction: every Python and shell block of README.md runs here, one after the other
in one folder as a reader would run them, except the blocks marked `<!-- not run: why -->`. They run on a small
synthetic `cifar10-jpg.tgz` and a few pictures made here, with the recipes shrunk (small nets, small batches, one
epoch) so that the whole README takes about a minute; editing the README re-tests it."""
import re, shlex, tarfile
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from conftest import git_status

README = Path(__file__).resolve().parents[1]/'README.md'
FENCE = re.compile(r'(?:<!-- not run: (?P<why>.+?) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```', re.S)


def blocks() -> list:
    "(language, code, why it is not run or None, line number) for each fenced block of the README."
    text = README.read_text()
    return [(m['lang'], m['code'], m['why'], text[:m.start()].count('\n') + 1) for m in FENCE.finditer(text)]


def test_blocks_are_python_or_shell_and_say_why_not_run():
    found = blocks()
    assert len(found) > 10
    for lang, code, why, line in found:
        assert lang in ('python', 'sh'), f"README.md:{line}: a block of {lang or 'no language'}"
        assert why is None or len(why.strip()) > 10, f"README.md:{line}: say why the block is not run"
    assert sum(why is None for *_, why, _ in found) >= 7  # most of them run


FIXTURES = ('cifar10-jpg.tgz', 'cat.jpg', 'dog.png', 'photo.jpg')  # what the reader is told to have: made here


@pytest.mark.slow
def test_every_block_runs(tmp_path, monkeypatch, fresh_clone):
    "Every block, run in the root of a fresh clone (where a reader who cloned the repository runs them): each works, and what they write is git-ignored."
    from cifar_fast.cli import main
    from cifar_fast.data import synthetic_cifar10
    from cifar_fast.recipes import RECIPES, get_recipe
    matplotlib.use('Agg')
    monkeypatch.chdir(fresh_clone)
    fake = synthetic_cifar10(tmp_path/'made'/'cifar10', n_train=16, n_test=4, ext='jpg')
    with tarfile.open('cifar10-jpg.tgz', 'w:gz') as t: t.add(fake, arcname='cifar10')
    pictures = sorted((fake/'test').rglob('*.jpg'))
    Image.open(pictures[0]).save('cat.jpg'); Image.open(pictures[5]).save('dog.png')
    Image.open(pictures[9]).resize((640, 480)).save('photo.jpg')
    small = {'era': dict(widths=(8, 16, 32, 64)), 'fast': dict(widths=(8, 16, 16)), 'muon': dict(widths=(8, 16, 16)),
             'cpu': dict(widths=(8, 16, 16), epochs=2, prog_epochs=1)}  # cpu: one epoch on smaller images, one at full size
    assert set(small) == set(RECIPES), "every recipe the README may run, made small"
    for name, changes in small.items():
        monkeypatch.setitem(RECIPES, name, get_recipe(name, **{'bs': 16, 'epochs': 1, 'precision': 'fp32', **changes}))
    ns, ran = {}, 0
    for lang, code, why, line in blocks():
        if why: continue
        if lang == 'python':
            exec(compile(code, f'README.md:{line}', 'exec'), ns)
        else:
            for cmd in code.splitlines():
                argv = shlex.split(cmd, comments=True)
                if not argv: continue
                assert argv[0] == 'cifar-fast', f"README.md:{line}: {cmd!r} is not a cifar-fast command: run it here, or mark the block not run, saying why"
                assert main(argv[1:]) == 0, f"README.md:{line}: {cmd!r} failed"
        ran += 1
    assert ran >= 7
    for f in ('augmentations.png', 'history.png', 'misclassified.png', 'fast.pkl', 'fast.safetensors', 'models/fast.pkl',
              'reports/index.html', 'models/cifar_fast.onnx', 'eval/index.html', 'runs/fast',
              'models/r18.pkl', 'models/r18.safetensors', 'models/r18.onnx', 'reports/r18/cam.png', 'reports/r18-eval/index.html', 'reports/r18-cam.png'):
        assert Path(f).exists(), f
    left = [line for line in git_status(fresh_clone) if line[3:] not in FIXTURES]
    assert left == [], f"the README's commands leave files git does not ignore: {left}"


def test_layout_tables_list_every_notebook():
    "The README's layout table and the tour's list every notebook, in reading order, with the module it exports."
    import json
    nbs = sorted((README.parent/'nbs').glob('*.ipynb'))
    exported = {}
    for nb in nbs:
        first = ''.join(json.loads(nb.read_text())['cells'][0]['source'])
        if m := re.match(r'#\|\s*default_exp\s+(\S+)', first): exported[nb.name] = f'cifar_fast.{m[1]}'
    index = ''.join(''.join(c['source']) for c in json.loads((README.parent/'nbs'/'index.ipynb').read_text())['cells'] if c['cell_type'] == 'markdown')
    for text, prefix in ((README.read_text(), 'nbs/'), (index, '')):
        rows = re.findall(rf'^\| `{prefix}(\w+\.ipynb)` \| `([\w.]+)` \|', text, re.M)
        assert rows == list(exported.items()), [r for r in rows if r not in exported.items()] or sorted(set(exported) - {r[0] for r in rows})
