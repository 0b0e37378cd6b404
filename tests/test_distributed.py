"Data-parallel training on this CPU: 2 processes with gloo, launched by `cifar-fast train --num-processes 2` and as two machines on loopback."
import pytest
import json, os, subprocess, sys

import pandas as pd

from cifar_fast.cli import main
from cifar_fast.logs import read_tensorboard

from conftest import CLI, free_port

pytestmark = pytest.mark.slow  # every test here trains or serves a model


def data_args(request, fake):
    "A small real subset when CIFAR_FAST_DATA is set (20 images per class and split), else the synthetic folder."
    if os.environ.get('CIFAR_FAST_DATA'): return ['--data', str(request.getfixturevalue('real_data')), '--subset', '20']
    return ['--data', str(fake)]


def train_args(data, out):
    return ['train', *data, '--bs', '20', '--epochs', '2', '--lr-max', '1e-2', '--widths', '8,16,32,64', '--seed', '0',
            '--precision', 'fp32', '--out', str(out), '--report', str(out.parent/'report')]


def test_two_processes(request, fake, tmp_path, capsys):
    data = data_args(request, fake)
    r = subprocess.run([CLI, *train_args(data, tmp_path/'m.pkl'), '--num-processes', '2', '--tensorboard', str(tmp_path/'tb'),
                        '--keep-checkpoints'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert [l.split()[1] for l in lines if l.startswith('epoch ')] == ['1/2', '2/2'], r.stdout  # rank 0 prints, once
    assert 'x 2 processes' in lines[1] and 'weights identical on all 2 processes' in r.stdout, r.stdout
    m = json.loads((tmp_path/'report'/'metrics.json').read_text())
    assert (m['processes'], m['test_images']) == (2, 200 if os.environ.get('CIFAR_FAST_DATA') else 40)
    # the reported accuracy is that of the whole test set, each image once: a single-process evaluate agrees
    assert main(['evaluate', str(tmp_path/'m.safetensors'), *data, '--seed', '0', '--precision', 'fp32']) == 0
    out = capsys.readouterr().out
    assert out.split()[2] == f"{m['final_test_accuracy']:.4f}" and f"/{m['test_images']})" in out.split()[3], (out, m['final_test_accuracy'])
    assert sorted(p.name for p in (tmp_path/'m.checkpoints').iterdir()) == ['checkpoint-001.pth', 'checkpoint-002.pth']
    # only rank 0 logs: one event file, one row per epoch in history.csv; training numbers only (tested once, at the end)
    assert len(list((tmp_path/'tb').glob('events.out.tfevents.*'))) == 1
    tb = read_tensorboard(tmp_path/'tb')
    steps = 2 * (m['train_images'] // 2 // 20)  # 2 epochs of each rank's half in batches of 20
    assert (tb.tag == 'train_loss').sum() == (tb.tag == 'lr_0').sum() == steps and 'valid_loss' not in set(tb.tag), tb.tag.value_counts()
    assert list(pd.read_csv(tmp_path/'report'/'history.csv').epoch) == [0, 1]


def test_two_machines_on_loopback(fake, tmp_path):
    "Two launches, as on two machines (node ranks 0 and 1, main process 127.0.0.1), one process each."
    for attempt in range(3):  # the rendezvous port is free when chosen; if another process takes it first, try another
        port = free_port()
        launches = [subprocess.Popen([sys.executable, '-m', 'torch.distributed.run', '--nnodes=2', f'--node-rank={rank}', '--nproc-per-node=1',
                                      '--master-addr=127.0.0.1', f'--master-port={port}', '-m', 'cifar_fast.cli',
                                      *train_args(['--data', str(fake)], tmp_path/f'node{rank}'/'m.pkl')],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
                    for rank in (0, 1)]
        done = [(p.wait(timeout=300), *p.communicate()) for p in launches]
        if not any('address already in use' in err.lower() for _, _, err in done): break
    for rank, (rc, out, err) in enumerate(done): assert rc == 0, (rank, err[-3000:])
    assert 'weights identical on all 2 processes' in done[0][1]
    assert (tmp_path/'node0'/'m.safetensors').exists() and not (tmp_path/'node1'/'m.safetensors').exists()  # rank 0 writes


def test_two_processes_muon_part_epoch(request, fake, tmp_path):
    "The muon recipe data-parallel for 1.5 epochs: each process stops half-way through its slice's second epoch, with the same weights."
    data = data_args(request, fake)
    args = ['train', *data, '--recipe', 'muon', '--bs', '20', '--epochs', '1.5', '--lr-max', '1e-3', '--widths', '8,16,16',
            '--seed', '0', '--precision', 'fp32', '--out', str(tmp_path/'m.pkl'), '--report', str(tmp_path/'report'),
            '--tensorboard', str(tmp_path/'tb'), '--num-processes', '2']
    r = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [l.split()[1] for l in r.stdout.splitlines() if l.startswith('epoch ')] == ['1/2', '2/2'], r.stdout
    assert 'weights identical on all 2 processes' in r.stdout, r.stdout
    m = json.loads((tmp_path/'report'/'metrics.json').read_text())
    per_epoch = m['train_images'] // 2 // 20  # batches of each rank's half
    tb = read_tensorboard(tmp_path/'tb')
    assert (tb.tag == 'train_loss').sum() == -(-3 * per_epoch // 2), tb.tag.value_counts()  # 1.5 epochs of its own slice, rounded up
