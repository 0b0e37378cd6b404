"cifar_fast/ must be exactly what nbdev-export makes of nbs/."
import filecmp, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_package_matches_notebooks(tmp_path):
    for name in ('nbs', 'cifar_fast'): shutil.copytree(ROOT/name, tmp_path/name, ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('pyproject.toml', 'settings.ini', 'setup.py'): shutil.copy(ROOT/name, tmp_path/name)
    exporter = Path(sys.executable).parent/'nbdev-export'
    subprocess.run([str(exporter)], cwd=tmp_path, check=True, capture_output=True)
    cmp = filecmp.dircmp(ROOT/'cifar_fast', tmp_path/'cifar_fast', ignore=['__pycache__'])
    stale = cmp.diff_files + cmp.left_only + cmp.right_only
    assert not stale, f"cifar_fast/ differs from nbdev-export of nbs/ in {stale}: edit the notebooks, then run `make export`"
