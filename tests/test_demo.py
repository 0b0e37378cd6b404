"""The demo as Gradio users use it: `cifar-fast demo`'s `/predict` endpoint through `gradio_client`, under a bounded load of
good and bad files from several threads, and its uploads removed when it stops."""
import concurrent.futures, os, time

import numpy as np
import pytest

from conftest import serving

REQUESTS = 160  # from 8 threads
pytestmark = pytest.mark.slow  # every test here trains or serves a model

pytest.importorskip('gradio_client', reason="the demo extra is not installed (pip install -e '.[dev]')")


def test_predict_endpoint_under_load(small_model, tmp_path):
    "160 requests from 8 threads, one in four a file that is not an image: every one answered as `predict` answers, the server serving on, no traceback, no upload left."
    from gradio_client import Client, handle_file
    from cifar_fast.inference import load_classifier
    d, images = small_model
    model = d/'m.safetensors'
    bad = tmp_path/'notes.png'
    bad.write_text('this is not an image')
    files = [bad if i % 4 == 3 else images[i % len(images)] for i in range(REQUESTS)]
    clf = load_classifier(model)
    want = {f: clf.predict(f).label for f in images}
    temp = tmp_path/'temp'
    temp.mkdir()
    with serving(['demo', model, '--examples', '0'], env={**os.environ, 'TMPDIR': str(temp)}) as (app, url):
        def ask(chunk):
            client, out = Client(url, verbose=False), []
            for f in chunk:
                t = time.perf_counter()
                top, message = client.predict(handle_file(str(f)), api_name='/predict')
                out.append((f, top, message, time.perf_counter() - t))
            return out
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = [a for part in pool.map(ask, [files[i::8] for i in range(8)]) for a in part]
        assert len(answers) == REQUESTS
        for f, top, message, _ in answers:
            if f == bad: assert not top and message.startswith('**Cannot classify this file.**') and 'notes.png' in message, message
            else: assert top['label'] == want[f] and message.startswith(f"**{want[f]}**"), (f, top, message)
        p95 = np.percentile([s for *_, s in answers], 95)
        print(f"{REQUESTS} requests from 8 threads: p95 latency {p95 * 1000:.0f} ms, median {np.median([s for *_, s in answers]) * 1000:.0f} ms")
        assert ask(images[:1])[0][1]['label'] == want[images[0]]  # still serving
        assert app.poll() is None
        assert any(temp.rglob('*.png')), "uploads go to the server's own folder"
    assert 'Traceback' not in app.err, app.err
    assert not list(temp.glob('cifar-fast-demo-*')), list(temp.iterdir())  # removed when the server stopped
