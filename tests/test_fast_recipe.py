"""The fast recipe end to end (the `fast_model` fixture, in conftest.py): it learns, its exported files score and predict as
training did, with TTA. On real images when CIFAR_FAST_DATA is set, else on a synthetic stand-in, so that every clone runs them."""
import pytest

pytestmark = pytest.mark.slow
import json, os

import numpy as np

from cifar_fast.cli import main
from cifar_fast.data import cifar_files
from cifar_fast.inference import load_classifier

from conftest import run, untrained_accuracy


def test_learns_well_above_chance(fast_model, cifar_data):
    d, out = fast_model
    lines = out.splitlines()
    assert lines[0].startswith('recipe fast: bs 100, epochs 4, lr_max 1.5, schedule linear')
    assert 'with TTA' in lines[1]
    epochs = [l for l in lines if l.startswith('epoch ')]
    assert len(epochs) == 4 and all('test_acc' not in l for l in epochs[:3]) and 'test_acc' in epochs[3]  # tested once
    m = json.loads((d/'report'/'metrics.json').read_text())
    assert m['history'][0]['valid_accuracy'] is None and m['recipe']['tta'] == 2
    acc, untrained = m['final_test_accuracy'], untrained_accuracy(cifar_data, 'fast', subset=100, bs=100, widths=(32, 64, 64))  # FAST_SMALL's net
    assert acc > untrained + 0.2, (acc, untrained)  # 1,000 images (real ones in CI), 4 epochs; the same net before training beside it
    # 4 epochs of 10 batches of 100 images: the rate is the images trained over the fit's seconds
    assert m['train_images_per_s_incl_eval'] == pytest.approx(4 * 1000 / m['train_seconds'], rel=1e-6)
    page = (d/'report'/'index.html').read_text()
    assert f"<th>data</th><td>{cifar_data}" in page  # the data as given, not only the cache it was extracted to


def test_both_files_score_what_training_reported(fast_model, cifar_data, capsys):
    "`cifar-fast evaluate` (run in this process: the console script itself is tested elsewhere) on both files."
    d, _ = fast_model
    acc = json.loads((d/'report'/'metrics.json').read_text())['final_test_accuracy']
    for model, flags, tta in (('fast.pkl', [], 2), ('fast.safetensors', [], 2), ('fast.safetensors', ['--no-tta'], 0)):
        rc = main(['evaluate', str(d/model), '--data', str(cifar_data), '--subset', '100', '--seed', '0', '--precision', 'fp32', *flags])
        first = capsys.readouterr().out.splitlines()[0]
        assert rc == 0 and f', tta {tta},' in first, (model, first)
        if tta: assert first.split()[2] == f"{acc:.4f}", (model, first)


def test_predict_in_a_fresh_process_with_tta(fast_model, cifar_data, tmp_path):
    "Only cifar_fast installed, another folder, no data: the console script predicts what the loaded classifier does."
    d, _ = fast_model
    images = [str(f) for f in cifar_files(cifar_data, subset=2, seed=5, split='test')]
    env = {k: v for k, v in os.environ.items() if k != 'CIFAR_FAST_DATA'}
    clf = load_classifier(d/'fast.safetensors')
    assert clf.tta == 2
    expected = clf.predict_batch(images)
    for model in ('fast.pkl', 'fast.safetensors'):
        r = run('predict', d/model, *images, '--json', cwd=tmp_path, env=env)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert [g['label'] for g in got] == [e.label for e in expected]
        np.testing.assert_allclose([[g['probs'][c] for c in clf.classes] for g in got], [e.probs for e in expected], atol=1e-5)
    no_tta = load_classifier(d/'fast.safetensors', tta=0).predict_batch(images)
    assert not np.allclose([r.probs for r in no_tta], [e.probs for e in expected], atol=1e-4)


def test_logs_hold_every_epoch(fast_model):
    "history.csv (fastai's CSVLogger) and the TensorBoard events (read with TensorBoard's reader) hold the 4 epochs training printed."
    import pandas as pd
    from cifar_fast.logs import read_tensorboard
    d, _ = fast_model
    m = json.loads((d/'report'/'metrics.json').read_text())
    csv = pd.read_csv(d/'report'/'history.csv')
    assert list(csv.epoch) == [0, 1, 2, 3]
    np.testing.assert_allclose(csv.train_loss, [h['train_loss'] for h in m['history']], rtol=1e-5)
    tb = read_tensorboard(d/'tb')
    steps = 4 * 10  # 4 epochs of 1,000 images in batches of 100
    assert (tb.tag == 'train_loss').sum() == steps and (tb.tag == 'lr_0').sum() == steps
    tested = tb[tb.tag == 'valid_accuracy']  # the fast recipe tests after the last epoch only
    assert list(tested.step) == [steps] and round(tested.value.iloc[0], 4) == round(m['final_test_accuracy'], 4)


def test_onnx_predicts_as_torch_on_real_images(fast_model, cifar_data, tmp_path):
    "`cifar-fast export-onnx`, then the ONNX classifier (onnxruntime) against the PyTorch one, TTA on and off, on real test images."
    d, _ = fast_model
    r = run('export-onnx', d/'fast.safetensors', tmp_path/'fast.onnx')
    assert r.returncode == 0, r.stderr
    images = cifar_files(cifar_data, subset=10, seed=3, split='test')
    for tta in (None, 0):
        ours, theirs = load_classifier(d/'fast.safetensors', tta=tta), load_classifier(tmp_path/'fast.onnx', tta=tta)
        assert theirs.tta == ours.tta == (2 if tta is None else 0)
        a, b = ours.predict_batch(images), theirs.predict_batch(images)
        np.testing.assert_allclose([r.probs for r in b], [r.probs for r in a], atol=1e-4)
        assert [r.label for r in b] == [r.label for r in a]

