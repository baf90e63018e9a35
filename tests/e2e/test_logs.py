"""deployctl logs and playbooks/logs.yml against the container hosts: the last lines of the app's
output and of its service's journal, prefixed by host (CLI, ansible-playbook, an AWX job); the
refusals (an unknown source, a host without that log); and --follow in a real terminal (tmux),
showing a line the app logs after the command started, until Ctrl-C (exit 0)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import DEPLOY_TO, REPO_ROOT, Fleet, awx_job
from tests.e2e.test_cli import ENV, deployctl

HOSTS = ("web1", "web2")
TMUX = "/usr/bin/tmux"


@pytest.fixture(scope="module")
def live(fleet: Fleet) -> Iterator[dict[str, str]]:
    """A live release on both hosts: the suite's other tests leave one; alone, this file deploys v1 once."""
    releases = {host: fleet.ssh(host, f"readlink {DEPLOY_TO}/current || true").strip() for host in HOSTS}
    if not all(releases.values()):
        deployed = fleet.deploy("v1")
        assert deployed.rc == 0, deployed.output[-3000:]
    yield {host: fleet.current(host) for host in HOSTS}


def request(fleet: Fleet, host: str, path: str) -> None:
    """One HTTP request to the app on a host, which Rails logs (a 404 is logged too)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{fleet.http_port(host)}{path}", timeout=10):
            pass
    except urllib.error.HTTPError:
        pass


def host_lines(out: str, host: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"{host} | ")]


def test_the_last_lines_of_the_app_and_of_its_service_are_shown_by_host(fleet: Fleet, live) -> None:
    markers = {host: f"/logs-{host}-{uuid.uuid4().hex[:10]}" for host in HOSTS}
    for host, marker in markers.items():
        request(fleet, host, marker)
    app = deployctl("logs", ENV, "--source", "app", "-n", "20", password=False)
    assert app.rc == 0, app.out + app.err
    # stdout is the log alone (`deployctl logs ENV > FILE`): progress and the closing line are on stderr.
    assert all(line.startswith(("web1 | ", "web2 | ")) for line in app.out.splitlines() if line.strip()), app.out
    assert "exit 0: success" in app.err
    for host, marker in markers.items():
        mine = host_lines(app.out, host)
        assert any(f'Started GET "{marker}"' in line for line in mine), app.out
        # Each host's own request only: the lines are not mixed up between hosts.
        other = markers["web2" if host == "web1" else "web1"]
        assert not any(other in line for line in mine), app.out

    service = deployctl("logs", ENV, "--source", "service", "-n", "3", "--json", password=False)
    assert service.rc == 0, service.out + service.err
    for host in HOSTS:
        result = service.hosts[host]
        assert (result["outcome"], result["source"], result["log"]) == ("ok", "service", "journal sample.service")
        assert len(result["lines"]) == 3 and all(f" {host} " in line for line in result["lines"]), result

    # ansible-playbook users get them as HOST | line at the end of the run (the deploy_summary callback).
    playbook = fleet.playbook("logs.yml", "-e", "deploy_logs_source=service", "-e", "deploy_logs_lines=2")
    assert playbook.rc == 0, playbook.output[-3000:]
    assert [len(host_lines(playbook.output, host)) for host in HOSTS] == [2, 2], playbook.output[-3000:]


def test_an_awx_job_publishes_each_hosts_lines(live, tmp_path: Path) -> None:
    job = awx_job(tmp_path, "playbooks/logs.yml", {"deploy_logs_source": "service", "deploy_logs_lines": 2})
    assert job.status == "successful", job.stdout[-3000:]
    for host in HOSTS:
        result = job.hosts[host]
        assert (result["outcome"], result["source"], len(result["lines"])) == ("ok", "service", 2), result
        assert all(f" {host} " in line for line in result["lines"]), result


def test_an_unknown_source_is_refused_before_any_host_is_touched(fleet: Fleet, live) -> None:
    cli = deployctl("logs", ENV, "--source", "nginx", password=False)
    assert cli.rc == 5, cli.out + cli.err
    assert "argument --source: invalid choice: 'nginx' (choose from app, service, build, test, migrate)" in cli.err

    playbook = fleet.playbook("logs.yml", "-e", "deploy_logs_source=nginx")
    assert playbook.rc == 2, playbook.output[-3000:]
    said = " ".join(playbook.output.split())
    assert "unknown log source or number of lines (deploy_logs_source=nginx" in said
    assert "the sources are app, service, build, test and migrate" in said
    # The controller's check stopped the run: no host was reached.
    assert "web1" not in playbook.output and "web2" not in playbook.output


def test_a_host_without_that_log_says_which_file_and_what_to_set(fleet: Fleet, live) -> None:
    path = f"{DEPLOY_TO}/shared/log/missing-{uuid.uuid4().hex[:6]}.log"
    app = deployctl("logs", ENV, "--source", "app", "-e", f"deploy_logs_app_path={path}", "--json", password=False)
    assert app.rc == 2, app.out + app.err
    for result in app.hosts.values():
        assert result["outcome"] == "failed"
        assert f"no app log at {path} (deploy_logs_app_path): set deploy_logs_app_path" in result["message"]

    # The migrations ran on one host only (once per deploy): another has no migrate log for the live release, and
    # says so as its warning; that is no failure (exit 0), whichever host migrated.
    migrate = deployctl("logs", ENV, "--source", "migrate", "--json", password=False)
    assert migrate.rc == 0, migrate.out + migrate.err
    missing = [host for host, result in migrate.hosts.items() if not result["lines"]]
    assert missing and all(result["outcome"] == "ok" for result in migrate.hosts.values()), migrate.out
    for host in missing:
        assert f"no migrate log for release {live[host]} on this host" in migrate.hosts[host]["warning"]
        assert "the migrations run once per deploy, on one host (deploy_migrate_host)" in migrate.hosts[host]["warning"]
    text = deployctl("logs", ENV, "--source", "migrate", password=False)
    assert text.rc == 0, text.out + text.err
    # Hosts with the same warning share its line ("web1, web2: warning: ..."): when the live release brought no
    # migration (the suite's file before this one deployed it), no host has its migrate log.
    said = " ".join(text.err.split())
    hosts = r"(?:[\w.-]+, )*" + re.escape(missing[0]) + r"(?:, [\w.-]+)*"
    assert re.search(rf"(?:^| ){hosts}: warning: no migrate log for release {live[missing[0]]}", said), said
    assert f"{missing[0]} |" not in text.out


def test_an_empty_log_is_said_so_on_stderr(fleet: Fleet, live) -> None:
    # No line on stdout is no failure (exit 0), but the reader is told the log was read and is empty.
    path = f"{DEPLOY_TO}/shared/log/empty-{uuid.uuid4().hex[:6]}.log"
    fleet.ssh("web1", f"install -m 0644 /dev/null {path}")
    cli = deployctl("logs", ENV, "--source", "app", "--limit", "web1", "-e", f"deploy_logs_app_path={path}",
                    password=False)  # fmt: skip
    assert cli.rc == 0, cli.out + cli.err
    assert host_lines(cli.out, "web1") == []
    assert f"web1: warning: the app log is empty: {path}" in " ".join(cli.err.split())
    # ansible-playbook users read it at the end of the run (the deploy_summary callback), AWX in the host's warning.
    playbook = fleet.playbook("logs.yml", "--limit", "web1", "-e", "deploy_logs_source=app", "-e",
                              f"deploy_logs_app_path={path}")  # fmt: skip
    assert playbook.rc == 0, playbook.output[-3000:]
    assert f"web1: warning: the app log is empty: {path}" in playbook.output
    # -n 0 asks for no line: none shown is no news.
    none_asked = deployctl("logs", ENV, "--source", "app", "--limit", "web1", "-n", "0", "-e",
                           f"deploy_logs_app_path={path}", password=False)  # fmt: skip
    assert none_asked.rc == 0, none_asked.out + none_asked.err
    assert "is empty" not in none_asked.err


def test_a_release_id_that_is_none_is_bad_input(fleet: Fleet, live) -> None:
    # Bad input (exit 5, as an unknown --source), not a host that lacks a log (exit 2).
    cli = deployctl("logs", ENV, "--source", "migrate", "--release", "latest", "--json", password=False)
    assert cli.rc == 5, cli.out + cli.err
    for host in HOSTS:
        assert cli.hosts[host]["outcome"] == "invalid"
        assert "release id 'latest' is not valid: use a UTC timestamp" in cli.hosts[host]["message"]


def tmux(socket: str, *args: str) -> str:
    return subprocess.run([TMUX, "-L", socket, *args], capture_output=True, text=True, check=True).stdout


def wait_for(socket: str, found, timeout: float) -> str:
    """The pane's text (wrapped lines joined) once found(text), or the last one seen after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        text = tmux(socket, "capture-pane", "-p", "-J", "-S", "-200", "-t", "logs")
        if found(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.5)


@pytest.mark.skipif(not Path(TMUX).exists(), reason="needs /usr/bin/tmux")
def test_follow_in_a_terminal_shows_a_new_app_line_with_its_host_until_ctrl_c(fleet: Fleet, live) -> None:
    socket = f"deployctl-logs-{uuid.uuid4().hex[:6]}"
    installed = Path(sys.executable).with_name("deployctl")
    command = [str(installed)] if installed.exists() else [sys.executable, "-m", "deployctl"]
    line = f"{shlex.join([*command, 'logs', ENV, '--follow', '--source', 'app', '-n', '1'])}; echo EXIT=$?; sleep 300"
    environment = [f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}", f"PATH={os.environ['PATH']}"]
    tmux(socket, "new-session", "-d", "-s", "logs", "-x", "220", "-y", "50", "-c", str(REPO_ROOT),
         *(arg for variable in environment for arg in ("-e", variable)), line)  # fmt: skip
    try:
        # The first poll prints each host's last line: the follow has started on both.
        started = wait_for(socket, lambda text: all(f"{host} | " in text for host in HOSTS), 60)
        assert all(f"{host} | " in started for host in HOSTS), started
        marker = f"/follow-{uuid.uuid4().hex[:12]}"
        request(fleet, "web1", marker)
        seen = wait_for(socket, lambda text: any(marker in line for line in host_lines(text, "web1")), 30)
        assert any(f'Started GET "{marker}"' in line for line in host_lines(seen, "web1")), seen
        assert not any(marker in line for line in host_lines(seen, "web2")), seen

        tmux(socket, "send-keys", "-t", "logs", "C-c")
        ended = wait_for(socket, lambda text: "EXIT=" in text, 30)
        assert "EXIT=0" in ended, ended
        # Each host kept its read position as root's only.
        modes = fleet.ssh("web1", "stat -c '%a %U' /run/deployctl /run/deployctl/logs-*.json").split("\n")
        assert modes[0] == "700 root" and all(mode == "600 root" for mode in modes[1:] if mode), modes
    finally:
        subprocess.run([TMUX, "-L", socket, "kill-server"], capture_output=True)
