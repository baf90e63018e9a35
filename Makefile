# deployctl: every entry point a newcomer, a developer or CI needs.
#   make demo   set up this machine, start container hosts, deploy the sample app
#   make test   everything CI runs (.ci/run calls exactly this)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
DEMO_VAULT := --vault-id demo@inventories/demo/demo-vault-password.txt
DEMO_DEPLOY := ansible-playbook playbooks/deploy.yml -i inventories/demo $(DEMO_VAULT)

.PHONY: setup demo demo-down lint unit molecule e2e hosts fleet test bench bench-fleet test-fleet ee clean

setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml tests/harness/setup.sh
	bash tests/harness/setup.sh
	touch $@

demo: setup
	python -m tests.harness.targets up inventories/demo $(DEMO_VAULT)
	$(DEMO_DEPLOY) -e deploy_ref=v1
	$(DEMO_DEPLOY) -e deploy_ref=v2
	ansible-playbook playbooks/releases.yml -i inventories/demo $(DEMO_VAULT)
	python -m tests.harness.targets show inventories/demo $(DEMO_VAULT)

demo-down: setup
	python -m tests.harness.targets down inventories/demo $(DEMO_VAULT)

lint: setup
	ruff check .
	ruff format --check .
	mypy collections/ansible_collections/deployctl/core/plugins src tests
	yamllint -s .
	ansible-lint

unit: setup
	pytest -q tests/unit tests/cli

molecule: setup
	molecule test --all

# Two workers, each with its own container hosts (tests/e2e/conftest.py), a test file per worker at
# a time. Not more: the two cores are busy all through (about two thirds of it the controller's
# ansible-playbook, a third the containers); three workers took longer (measured, session 13).
e2e: setup
	pytest -q -n 2 --dist loadfile tests/e2e

# The e2e and the fleet tests together, in the same two workers: each e2e file is one unit of work, the
# fleet's files one unit (four hosts of their own), given first so that it runs beside the e2e files
# rather than after them (tests/conftest.py). --durations: the slowest tests, to see where the suite's time goes.
hosts: setup
	pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25 tests/fleet tests/e2e

test: lint unit molecule hosts

# Rolling deploys over four container hosts (tests/fleet) alone.
fleet: setup
	pytest -q tests/fleet

# Not part of `make test`: figures, not pass/fail (see tests/bench/deploy_speed.py).
bench: setup
	python -m tests.bench.deploy_speed

# Not part of `make test` either: how the deploy scales with the fleet on one controller, 2, 4 and 8 hosts,
# also through the execution environment and with forks below the host count (tests/bench/fleet_speed.py).
bench-fleet: setup
	python -m tests.bench.fleet_speed --hosts 2,4,8 --rounds 2 --ee 8 --forks 4

# The execution environment image, built here FROM a local Debian base (no registry), cached by recipe;
# prints its name. tests/e2e/test_execution_environment.py builds it the same way when it is missing.
ee: setup
	python -m tests.harness.ee_image

# The fleet tests alone (also part of `make test`).
test-fleet: fleet

clean:
	rm -rf .cache .pytest_cache .mypy_cache .ruff_cache
