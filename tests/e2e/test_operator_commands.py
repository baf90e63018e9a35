"""The everyday operator commands against the container hosts: a lock taken by hand for a
maintenance window, a command run in the live release on every host, and what a deploy would bring."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import quote

from tests.e2e.conftest import DEPLOY_TO, Fleet, awx_job
from tests.e2e.test_cli import ENV, PASSWORD_FILE, Cli, deployctl
from tests.harness import targets

MESSAGE = "DB maintenance until 14:00"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_lock_taken_by_hand_holds_off_every_deploy_until_unlocked(fleet: Fleet, commits, on_v2, tmp_path) -> None:
    taken = deployctl("lock", ENV, "--message", MESSAGE, password=False)
    assert taken.rc == 0, taken.out + taken.err
    assert MESSAGE in taken.out
    try:
        status = deployctl("lock", "status", ENV, "--json", password=False)
        assert status.rc == 0 and status.doc["command"] == "lock-status"
        for result in status.hosts.values():
            assert (result["lock"]["message"], result["lock"]["manual"]) == (MESSAGE, True)
        assert "by hand since" in deployctl("lock", "status", ENV, password=False).out

        refused = deployctl("deploy", ENV, "--ref", "v1", "--json")
        assert refused.rc == 3, refused.out + refused.err
        for host, result in refused.hosts.items():
            assert result["outcome"] == "locked"
            said = flat(result["message"])
            # web1's lock stops every host; the others name it.
            where = "this host" if host == "web1" else "web1"
            assert f"the deploy lock on {where} was taken by hand:" in said and f"'{MESSAGE}'" in said
            assert "deployctl unlock ENV --reason TEXT" in said
            assert fleet.current(host) == on_v2[host]
        playbook = fleet.deploy("v1")
        assert playbook.rc == 2 and MESSAGE in playbook.output, playbook.output[-3000:]
        job = awx_job(tmp_path, "playbooks/rollback.yml", {})
        assert (job.status, {r["outcome"] for r in job.hosts.values()}) == ("failed", {"locked"}), job.stdout[-3000:]
        # It never goes stale: a deploy long after would be refused the same way (unit-tested); a second
        # lock by hand is refused too, naming the first.
        again = deployctl("lock", ENV, "--message", "another window", password=False)
        assert again.rc == 3 and MESSAGE in flat(again.out + again.err)
        assert "lock_held" in [line["event"] for line in fleet.journal("web1")]
    finally:
        opened = deployctl("unlock", ENV, "--reason", "maintenance done", password=False)
    assert opened.rc == 0, opened.out + opened.err
    assert all(result["lock"] is None for result in deployctl("lock", "status", ENV, "--json").hosts.values())
    assert deployctl("deploy", ENV, "--ref", "v2").rc == 0


def exec_(*args: str) -> Cli:
    """deployctl exec ENV ARGS: the vault password before the `--` (all after it is the command)."""
    return deployctl("exec", ENV, "--vault-password-file", PASSWORD_FILE, *args, password=False)


def test_exec_runs_in_the_live_release_as_the_app_user_and_exits_with_the_worst_status(
    fleet: Fleet, commits, on_v2, vault_secrets
) -> None:
    ran = exec_("--json", "--", "sh", "-c", 'echo "$(id -un) $RAILS_ENV $(cat REVISION)"')
    assert ran.rc == 0, ran.out + ran.err
    for host, result in ran.hosts.items():
        assert (result["outcome"], result["rc"], result["release"]) == ("ran", 0, on_v2[host])
        assert result["output"] == [f"sample production {commits['v2']}"]

    # The app's own environment: a Rails runner reads the database through the rendered configuration.
    rails = exec_("--limit", "web1", "--", "bin/rails", "runner", "puts Note.count")
    assert rails.rc == 0, rails.out + rails.err
    count = json.loads(exec_("--limit", "web1", "--json", "--", "bin/rails", "runner", "puts Note.count").out)["hosts"][
        "web1"
    ]["output"][-1]
    assert f"web1 | {count}" in rails.out and "web2" not in rails.out

    fleet.ssh("web2", "touch /tmp/deployctl-exec-fails")
    try:
        worst = exec_("--", "sh", "-c", "test -e /tmp/deployctl-exec-fails && exit 7; echo fine; printf '%0300d\\n' 7")
    finally:
        fleet.ssh("web2", "rm -f /tmp/deployctl-exec-fails")
    assert worst.rc == 7, worst.out + worst.err
    assert "web1 | fine" in worst.out and "web2: exit 7" in worst.out
    # A long line stays one line, prefixed by its host, however wide the terminal (here: none, COLUMNS 160).
    assert f"web1 | {'0' * 299}7" in worst.out.splitlines()
    assert "exit 7: the command's exit status (the highest of the hosts)" in flat(worst.out)
    for secret in vault_secrets.values():
        assert secret not in ran.out + ran.err + rails.out + rails.err + worst.out

    missing = exec_("--", "no-such-command")
    assert missing.rc == 127 and "cannot run `no-such-command`" in flat(missing.out + missing.err), "as a shell says"
    # The whole output stays on the host, root's alone (it may hold what the command printed).
    logs = fleet.ssh("web1", f"ls {DEPLOY_TO}/.deployctl/logs/{on_v2['web1']}-exec-*.log").split()
    assert len(logs) >= 4, "one log per run, none overwritten"
    assert fleet.ssh("web1", f"stat -c '%a %U' {logs[0]}").split() == ["600", "root"]


def test_pending_lists_the_commits_and_migrations_a_deploy_would_bring(fleet: Fleet, commits, on_v2) -> None:
    upstream = str(targets.UPSTREAM / "sample-app.git")
    expected = subprocess.run(
        ["git", "--git-dir", upstream, "log", "--format=%H %s", "v2..v3-drop-title"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    journal = {host: len(fleet.journal(host)) for host in fleet.hosts}

    run = deployctl("pending", ENV, "--ref", "v3-drop-title", "--json")

    assert run.rc == 0, run.out + run.err
    for host, result in run.hosts.items():
        assert result["outcome"] == "would_deploy" and result["live_commit"] == commits["v2"]
        assert [f"{c['commit']} {c['subject']}" for c in result["commits"]] == expected
        assert result["commits"][0]["author"] == "Sample App" and result["commits_behind"] == 0
        assert result["pending_migrations"] == ["20240302000000"]
        assert fleet.current(host) == on_v2[host] and len(fleet.journal(host)) == journal[host], "nothing changed"
    table = deployctl("pending", ENV, "--ref", "v3-drop-title")
    assert "v3: drop notes.title (destructive)" in table.out and "migrations to run: 20240302000000" in table.out

    older = deployctl("pending", ENV, "--ref", "v1")
    assert older.rc == 0 and "1 commit(s) of the live release would be left out" in flat(older.out)


def test_history_shows_each_run_merged_across_hosts_newest_first(fleet: Fleet, commits, on_v2) -> None:
    # One v2 release on both hosts (earlier tests may have left each host on a v2 release of its
    # own, by --limit), so that the rollback below goes back to the same release everywhere.
    assert deployctl("deploy", ENV, "--ref", "v1").rc == 0
    assert deployctl("deploy", ENV, "--ref", "v2").rc == 0
    v2_release = fleet.current("web1")
    assert fleet.current("web2") == v2_release
    # Past the candidate check: a deploy reverted after the switch.
    assert deployctl("deploy", ENV, "--ref", "v3-unhealthy", "-e", "deploy_candidate_check=false").rc == 1
    assert deployctl("deploy", ENV, "--ref", "v3-broken-build").rc == 1
    assert deployctl("deploy", ENV, "--ref", "v1").rc == 0
    v1_release = fleet.current("web1")
    assert deployctl("rollback", ENV).rc == 0

    run = deployctl("history", ENV, "-n", "4", "--json", password=False)

    assert run.rc == 0, run.out + run.err
    for result in run.hosts.values():
        history = result["history"]
        assert [(h["kind"], h["outcome"], h.get("ref")) for h in history] == [
            ("rollback", "rolled_back", None),
            ("deploy", "deployed", "v1"),
            ("deploy", "aborted", "v3-broken-build"),
            ("deploy", "reverted", "v3-unhealthy"),
        ], history
        rollback, v1 = history[0], history[1]
        assert (rollback["release"], rollback["from"]) == (v2_release, v1_release)
        assert (v1["release"], v1["commit"]) == (v1_release, commits["v1"]) and v1["duration"] > 0
        assert history[3]["reason"].startswith("verify:") and history[2]["reason"].startswith("build:")
        assert rollback["by"] == v1["by"] and v1["by"]
    table = deployctl("history", ENV, "-n", "4", password=False)
    row = next(line for line in table.out.splitlines() if " rollback " in line)
    assert "web1,web2" in row and f"from {v1_release}" in row and commits["v2"][:8] in row
    assert "reverted" in table.out and "aborted" in table.out
    playbook = fleet.playbook("history.yml", "-e", "deploy_history_limit=1")
    assert playbook.rc == 0, playbook.output[-3000:]


def test_init_writes_an_environment_that_deploys_the_sample_app(fleet: Fleet, commits, on_v2, tmp_path) -> None:
    env, password = tmp_path / "staging", tmp_path / "staging.pass"
    password.write_text("a new vault password\n")
    hostvars = fleet.hosts["web1"]
    database_url = tmp_path / "database_url"
    database_url.write_text(
        f"postgres://{hostvars['sample_db_user']}:{quote(hostvars['vault_sample_db_password'], safe='')}"
        f"@{hostvars['sample_db_host']}:5432/{hostvars['sample_db_name']}\n"
    )
    repo = str(hostvars["deploy_repo_url"])
    init = ("init", str(env), "--app", "sample", "--repo", repo, "--vault-password-file", str(password))

    made = deployctl(*init, "--secret", f"DATABASE_URL=@{database_url}", password=False)

    assert made.rc == 0, made.out + made.err
    assert sorted(str(p.relative_to(env)) for p in env.rglob("*") if p.is_file()) == [
        ".gitignore", "group_vars/all/vars.yml", "group_vars/all/vault.yml", "hosts.yml",
    ]  # fmt: skip
    vault_yml = (env / "group_vars/all/vault.yml").read_text()
    assert "$ANSIBLE_VAULT;1.2;AES256;staging" in vault_yml
    assert hostvars["vault_sample_db_password"] not in vault_yml and "postgres://" not in vault_yml
    again = deployctl(*init, "--secret", f"DATABASE_URL=@{database_url}", password=False)
    assert again.rc == 5 and f"{env / 'hosts.yml'} exists" in flat(again.err)

    # What a user fills in: the hosts, here the container hosts and how to reach them.
    hosts = {
        name: {key: v[key] for key in ("ansible_host", "ansible_port", "ansible_user", "ansible_ssh_private_key_file",
                                       "ansible_ssh_common_args")}
        for name, v in fleet.hosts.items()
    }  # fmt: skip
    (env / "hosts.yml").write_text(json.dumps({"all": {"children": {"app": {"hosts": hosts}}}}))
    deployed = deployctl("deploy", str(env), "--ref", "v1", "--vault-password-file", str(password), password=False)

    assert deployed.rc == 0, deployed.out + deployed.err
    for host in fleet.hosts:
        status, body = fleet.health(host)
        assert (status, body.get("revision")) == (200, commits["v1"]), "the app reached its database by DATABASE_URL"
        environment = f"{DEPLOY_TO}/current/.deployctl-environment"
        assert fleet.ssh(host, f"stat -c '%a %U' {environment}").split() == ["600", "root"]
