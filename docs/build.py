"""Build cifar_fast's documentation site, offline, from the notebooks: `python docs/build.py [--execute all|index|none] [--out _site]`.

The notebooks in `nbs/` are copied to `_docs/` (git-ignored, like the site; Sphinx and myst-nb build there, in `_docs/_build`,
and only the finished HTML is copied to `--out`, so a build leaves nothing else in the repository), their nbdev directives turned into what
myst-nb understands (`#| hide` cells run but left out of the pages, `#| eval: false` cells not run, the `#|` lines themselves
not shown), a page of the API of every module is added (autodoc: every public name with its signature and docstring),
and Sphinx builds the HTML with myst-nb, executing the notebooks as it goes (`--execute index`: only the tour, for a
quick build; `none`: none). The tour uses the real CIFAR-10 when `CIFAR_FAST_DATA` is set, synthetic images otherwise.
"""
import argparse, json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules() -> list:
    "Every module the notebooks export (their `#| default_exp`), in reading order: the notebooks are the one list of them."
    found = []
    for nb in sorted((ROOT/'nbs').glob('*.ipynb')):
        first = ''.join(json.loads(nb.read_text())['cells'][0]['source'])
        if m := re.match(r'#\|\s*default_exp\s+(\S+)', first):
            if m[1] != 'all': found.append(m[1])
    return found


def page(cells:list) -> list:
    "A notebook's cells as pages show them: hidden cells run but not shown, cells not to run tagged, nbdev's directive lines dropped."
    out = []
    for c in cells:
        src = ''.join(c['source'])
        directives = re.findall(r'^#\|\s*(.+)$', src, re.M) if c['cell_type'] == 'code' else []
        tags = set(c.get('metadata', {}).get('tags', []))
        if any(d.strip() == 'hide' for d in directives): tags.add('remove-cell')  # run (imports, helpers), not shown
        if any(d.replace(' ', '') == 'eval:false' for d in directives): tags.add('skip-execution')
        if c['cell_type'] == 'code':
            src = re.sub(r'^#\|.*\n?', '', src, flags=re.M)
            if not src.strip(): continue
        out.append({**c, 'source': src, 'metadata': {**c.get('metadata', {}), 'tags': sorted(tags)}})
    return out


def api_directives(module:str) -> str:
    "autodoc directives for each public name of `cifar_fast.<module>`: classes and functions with their signatures, constants with their values."
    import importlib, inspect
    mod = importlib.import_module(f'cifar_fast.{module}')
    out = [f'.. automodule:: cifar_fast.{module}', '   :no-members:', '']
    for name in mod.__all__:
        obj = getattr(mod, name)
        if inspect.isclass(obj): out += [f'.. autoclass:: cifar_fast.{module}.{name}', '   :members:', '   :undoc-members:', '']
        elif callable(obj): out += [f'.. autofunction:: cifar_fast.{module}.{name}', '']
        else:  # a constant: its value (a dict or tuple's docstring would be Python's, not ours)
            value = repr(obj) if len(repr(obj)) <= 120 else repr(obj)[:117] + '...'
            out += [f'.. py:data:: cifar_fast.{module}.{name}', f'   :value: {value}', '']
    return '\n'.join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--execute', choices=['all', 'index', 'none'], default='all')
    p.add_argument('--out', default=str(ROOT/'_site'))
    args = p.parse_args()
    t0 = time.perf_counter()
    src = ROOT/'_docs'
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir()
    shutil.copy(ROOT/'docs'/'conf.py', src/'conf.py')
    names = sorted(f.stem for f in (ROOT/'nbs').glob('*.ipynb') if f.stem != 'index')
    for name in names + ['index']:
        nb = json.loads((ROOT/'nbs'/f'{name}.ipynb').read_text())
        nb['cells'] = page(nb['cells'])
        nb['metadata'].setdefault('language_info', {'name': 'python'})  # myst-nb's code highlighting
        if name == 'index':
            toc = '\n'.join(names + ['api'])
            nb['cells'].append({'cell_type': 'markdown', 'id': 'toctree', 'metadata': {}, 'source': f"```{{toctree}}\n:maxdepth: 1\n:caption: The notebooks, in reading order\n\n{toc}\n```"})
        (src/f'{name}.ipynb').write_text(json.dumps(nb, indent=1))
    api = ['# API\n', 'Every public name of every module, with its signature and docstring, module by module in reading order.\n']
    for m in modules(): api.append(f"## `cifar_fast.{m}`\n\n```{{eval-rst}}\n{api_directives(m)}\n```\n")
    (src/'api.md').write_text('\n'.join(api))
    env = {**os.environ, 'CIFAR_FAST_DOCS_EXECUTE_MODE': 'off' if args.execute == 'none' else 'force',
           'CIFAR_FAST_DOCS_SKIP': ','.join(f'{n}.ipynb' for n in names) if args.execute == 'index' else '',
           'MPLBACKEND': 'module://matplotlib_inline.backend_inline',  # figures as PNG outputs, as in Jupyter
           'CIFAR_FAST_PROGRESS': 'lines'}  # training shows a plain line per epoch: a static page cannot animate bars
    build = src/'_build'  # myst-nb writes its executed copies (jupyter_execute/) beside the HTML folder: here, not in the repository
    r = subprocess.run([sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-j', 'auto', str(src), str(build/'html')], env=env, cwd=src)
    if r.returncode: sys.exit(r.returncode)
    shutil.rmtree(args.out, ignore_errors=True)
    shutil.copytree(build/'html', args.out)
    print(f"built {args.out}/index.html ({len(names) + 2} pages, notebooks executed: {args.execute}) in {time.perf_counter() - t0:.0f}s")


if __name__ == '__main__': main()
