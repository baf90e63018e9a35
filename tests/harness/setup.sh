#!/usr/bin/env bash
# Installs everything deployctl's demo and tests need on Debian 12, as root:
# podman (runc) and debootstrap for the container hosts, an SSH client, and a
# virtualenv in .venv with the Python tools pinned in pyproject.toml.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

# pass + gnupg: the external secret store of the README example and its test.
packages=(podman runc debootstrap openssh-client git make curl ca-certificates python3 python3-venv pass gnupg)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check --upgrade pip >/dev/null
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
echo "setup: done ($(.venv/bin/ansible --version 2>/dev/null | sed -n 1p))"
