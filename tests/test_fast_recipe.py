"The fast recipe end to end on real images: it learns, its two exported files score and predict as training did, with TTA."
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from cifar_fast.cli import main
from cifar_fast.data import cifar_files
from cifar_fast.inference import load_classifier
from cifar_fast.model import tta_level

CLI = str(Path(sys.executable).parent/'cifar-fast')
SMALL = ['--recipe', 'fast', '--subset', '100', '--bs', '100', '--epochs', '4', '--widths', '32,64,64', '--seed', '0',
         '--precision', 'fp32']


def run(*args, **kw):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope='module')
def fast_model(real_data, tmp_path_factory):
    "A small fast-recipe model trained on 1,000 real images, exported both ways, and what training printed."
    d = tmp_path_factory.mktemp('fast')
    r = run('train', '--data', real_data, *SMALL, '--out', d/'fast.pkl', '--report', d/'report')
    assert r.returncode == 0, r.stderr
    return d, r.stdout


def test_learns_well_above_chance(fast_model):
    d, out = fast_model
    lines = out.splitlines()
    assert lines[0].startswith('recipe fast: bs 100, epochs 4, lr_max 1.5, schedule linear')
    assert 'with TTA' in lines[1]
    epochs = [l for l in lines if l.startswith('epoch ')]
    assert len(epochs) == 4 and all('test_acc' not in l for l in epochs[:3]) and 'test_acc' in epochs[3]  # tested once
    m = json.loads((d/'report'/'metrics.json').read_text())
    assert m['history'][0]['valid_accuracy'] is None and m['recipe']['tta'] == 2
    assert m['final_test_accuracy'] > 0.35, m['final_test_accuracy']  # chance is 0.10


def test_both_files_score_what_training_reported(fast_model, real_data, capsys):
    "`cifar-fast evaluate` (run in this process: the console script itself is tested elsewhere) on both files."
    d, _ = fast_model
    acc = json.loads((d/'report'/'metrics.json').read_text())['final_test_accuracy']
    for model, flags, tta in (('fast.pkl', [], 2), ('fast.safetensors', [], 2), ('fast.safetensors', ['--no-tta'], 0)):
        rc = main(['evaluate', str(d/model), '--data', str(real_data), '--subset', '100', '--seed', '0', '--precision', 'fp32', *flags])
        first = capsys.readouterr().out.splitlines()[0]
        assert rc == 0 and f', tta {tta},' in first, (model, first)
        if tta: assert first.split()[2] == f"{acc:.4f}", (model, first)


def test_predict_in_a_fresh_process_with_tta(fast_model, real_data, tmp_path):
    "Only cifar_fast installed, another folder, no data: the console script predicts what the loaded classifier does."
    d, _ = fast_model
    images = [str(f) for f in cifar_files(real_data, subset=2, seed=5, split='test')]
    env = {k: v for k, v in os.environ.items() if k != 'CIFAR_FAST_DATA'}
    clf = load_classifier(d/'fast.safetensors')
    assert tta_level(clf.model) == 2
    expected = clf.predict_batch(images)
    for model in ('fast.pkl', 'fast.safetensors'):
        r = run('predict', d/model, *images, '--json', cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert [g['label'] for g in got] == [e.label for e in expected]
        np.testing.assert_allclose([[g['probs'][c] for c in clf.classes] for g in got], [e.probs for e in expected], atol=1e-5)
    no_tta = load_classifier(d/'fast.safetensors', tta=0).predict_batch(images)
    assert not np.allclose([r.probs for r in no_tta], [e.probs for e in expected], atol=1e-4)
