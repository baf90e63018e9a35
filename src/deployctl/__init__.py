"""deployctl: release-based deploys of Rails-style applications with Ansible."""

__version__ = "0.1.0"
