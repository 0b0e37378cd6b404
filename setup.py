"Package metadata lives in settings.ini; this file only reads it (no pkg_resources, which current setuptools lacks)."
from configparser import ConfigParser
from pathlib import Path
import setuptools

here = Path(__file__).parent
cfg = ConfigParser(delimiters=['='], inline_comment_prefixes=None)
cfg.read(here/'settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']
readme = here/'README.md'
extras = {k[:-len('_requirements')]: cfg[k].split() for k in ('logs_requirements', 'onnx_requirements', 'demo_requirements', 'sweep_requirements', 'cam_requirements')}

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    description=cfg['description'],
    long_description=readme.read_text(encoding='utf-8') if readme.exists() else cfg['description'],
    long_description_content_type='text/markdown',
    keywords=cfg['keywords'].split(),
    author=cfg['author'],
    author_email=cfg['author_email'],
    license=cfg['license'],
    python_requires=f">={cfg['min_python']}",
    packages=setuptools.find_packages(include=[cfg['lib_name'], cfg['lib_name'] + '.*']),
    install_requires=cfg['requirements'].split(),
    extras_require={**extras, 'notebooks': cfg['notebooks_requirements'].split(),
                    'dev': cfg['dev_requirements'].split() + sorted({r for rs in extras.values() for r in rs})},
    entry_points={'console_scripts': cfg['console_scripts'].split()},
    zip_safe=False,
)
