#!/usr/bin/env bash
# Installs everything deployctl's demo and tests need on Debian 12, as root:
# podman (runc) and debootstrap for the container hosts, an SSH client, and a
# virtualenv in .venv with the Python tools pinned in pyproject.toml.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

# pass + gnupg: the external secret store of the README example and its test.
packages=(podman runc debootstrap openssh-client git make curl ca-certificates python3 python3-venv pass gnupg)
# The GitLab CI pipeline's test (tests/e2e/test_pipeline.py): gitlab-ci-local runs the shipped
# .gitlab-ci.yml with its shell executor on this machine, so the sample app's `make test` (Ruby,
# Rails from Debian) and gitlab-ci-local's rsync run here too.
packages+=(rsync ruby-rails ruby-pg puma bundler)
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
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
# gitlab-ci-local 4.65.1: the newest release needs Node 22; Debian 12 has Node 18 (PLATFORM.md).
GITLAB_CI_LOCAL=4.65.1
if ! grep -qs "\"version\": \"$GITLAB_CI_LOCAL\"" .cache/node/node_modules/gitlab-ci-local/package.json; then
  echo "setup: installing gitlab-ci-local $GITLAB_CI_LOCAL into .cache/node"
  npm install --prefix .cache/node --no-audit --no-fund --loglevel=error "gitlab-ci-local@$GITLAB_CI_LOCAL" >/dev/null
fi
# promtool (tests/e2e/test_metrics.py checks the deploy metrics with it) from Debian's prometheus
# package, unpacked into .cache: installing the package would also start a Prometheus server here.
if [ ! -x .cache/prometheus/usr/bin/promtool ]; then
  echo "setup: unpacking promtool from Debian's prometheus package into .cache/prometheus"
  (mkdir -p .cache/prometheus && cd .cache/prometheus && { apt-get download prometheus >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get download prometheus >/dev/null; }; } \
    && dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb)
fi
# sentry-cli for the notifications' test (tests/e2e/test_notifications.py): npm's @sentry/cli takes its
# binary from the optional package @sentry/cli-linux-x64 (nothing is downloaded at install time).
SENTRY_CLI=3.8.0
if ! grep -qs "\"version\": \"$SENTRY_CLI\"" .cache/node/node_modules/@sentry/cli/package.json; then
  echo "setup: installing @sentry/cli $SENTRY_CLI into .cache/node"
  SENTRYCLI_SKIP_DOWNLOAD=1 npm install --prefix .cache/node --no-audit --no-fund --loglevel=error --save-exact "@sentry/cli@$SENTRY_CLI" >/dev/null
fi
# ansible-navigator's podman containers need /dev/mqueue/ (README "The execution environment"); /dev is
# a tmpfs, so tests/e2e/test_execution_environment.py makes it again after a reboot.
mkdir -p /dev/mqueue
echo "setup: done ($(.venv/bin/ansible --version 2>/dev/null | sed -n 1p))"
