"Sphinx settings for cifar_fast's site: the notebooks (rendered by myst-nb) and one API page per module (autodoc). Built by docs/build.py."
import os

project = 'cifar_fast'
author = 'cifar_fast developers'
extensions = ['myst_nb', 'sphinx.ext.autodoc']
root_doc = 'index'
html_theme = 'furo'
html_title = 'cifar_fast'
exclude_patterns = ['_build', '**.ipynb_checkpoints']
myst_enable_extensions = ['colon_fence']
suppress_warnings = ['myst.header', 'misc.highlighting_failure']
nb_execution_mode = os.environ.get('CIFAR_FAST_DOCS_EXECUTE_MODE', 'force')   # build.py sets it: force, or off
nb_execution_excludepatterns = [p for p in os.environ.get('CIFAR_FAST_DOCS_SKIP', '').split(',') if p]
nb_execution_timeout = 900
nb_execution_in_temp = True   # each notebook runs in a temporary folder: what it writes (exports, figures) lands there, not in the repository
nb_execution_raise_on_error = True
nb_ipywidgets_js = {}          # nothing from a CDN: the site works offline
nb_merge_streams = True
autodoc_member_order = 'bysource'
autodoc_typehints = 'signature'
html_show_sourcelink = False
