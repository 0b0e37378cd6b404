from importlib.metadata import PackageNotFoundError, version as _version

try: __version__ = _version('cifar_fast')
except PackageNotFoundError: __version__ = 'unknown'
