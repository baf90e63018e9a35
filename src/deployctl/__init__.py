"""deployctl: release-based deploys of Rails-style applications with Ansible."""

from importlib.metadata import PackageNotFoundError, version

# Written once, in pyproject.toml; galaxy.yml says the same (tests/unit/test_packaging.py).
try:
    __version__ = version("deployctl")
except PackageNotFoundError:  # a source tree on sys.path without `pip install`
    __version__ = "0+unknown"
