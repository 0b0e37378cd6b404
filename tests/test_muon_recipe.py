"The muon recipe through what the fast recipe has: lr_find, fastai's interpretation, the three model files and their TTA predictions."
import numpy as np
import pytest

pytestmark = pytest.mark.slow  # trains a model


def test_muon_recipe_lr_find_interpretation_and_files(tmp_path):
    import warnings
    from cifar_fast.augment import cifar_dls
    from cifar_fast.data import synthetic_cifar10
    from cifar_fast.inference import classifier_from_file, classifier_from_learner
    from cifar_fast.interpret import ClassificationInterpretation
    from cifar_fast.learner import cifar_learner
    from cifar_fast.model import AirbenchMuonNet, unwrap
    from cifar_fast.onnx import export_onnx
    from cifar_fast.optim import MuonSGD
    from cifar_fast.recipes import get_recipe
    fake = synthetic_cifar10(tmp_path/'fake', n_train=8, n_test=2)
    r = get_recipe('muon', bs=20, epochs=1.5, widths=(8, 16, 16), precision='fp32', lr_max=None, brightness=0.14, contrast=0.13)
    learn = cifar_learner(cifar_dls(fake, recipe=r, seed=0), recipe=r)
    with learn.no_logging(): lr = learn.fit_recipe()  # lr_max None: lr_find's valley, then the recipe's schedule
    assert 1e-7 < lr < 10 and isinstance(learn.opt, MuonSGD) and isinstance(unwrap(learn.model), AirbenchMuonNet)
    interp = ClassificationInterpretation.from_learner(learn)
    losses, idxs = interp.top_losses(5)
    assert len(losses) == 5 and losses[0] >= losses[-1] and interp.confusion_matrix().sum() == len(learn.dls.valid_ds)
    learn.export(tmp_path/'m.pkl'); learn.export_weights(tmp_path/'m.safetensors'); export_onnx(learn, tmp_path/'m.onnx')
    images = sorted((fake/'test').rglob('*.png'))
    ref = np.stack([p.probs for p in classifier_from_learner(learn).predict_batch(images)])
    for name in ('m.pkl', 'm.safetensors', 'm.onnx'):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the exported learner's pickle notice
            clf = classifier_from_file(tmp_path/name)
        assert clf.tta == 2, name  # the recipe's TTA travels with every file
        got = np.stack([p.probs for p in clf.predict_batch(images)])
        np.testing.assert_allclose(got, ref, atol=1e-4, err_msg=name)
