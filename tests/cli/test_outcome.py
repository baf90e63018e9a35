"""Events -> stages, per-host results and exit codes."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from deployctl import outcome, progress
from deployctl.outcome import ExitCode, Run
from tests.cli.conftest import events, replay


@pytest.mark.parametrize(
    ("task", "stage"),
    [
        ("Build: run the build command as the app user", "build"),
        ("Switch: point current at the new release", "switch"),
        ("Revert: point current back at 20261126T151752Z", "revert"),
        ("Preflight: fix the release ID, the deployer and the controller for every host of this run", "preflight"),
        ("Rollback: refuse to run old code on a newer database schema", "rollback"),
        ("Migrate-down: run", "migrate-down"),
        ("  Lock:  take the deploy lock", "lock"),
        ("Require a ref", None),
        ("Validating arguments against arg spec 'main' - Deploy a release of a Rails-style application", None),
        ("Show the releases (* marks current)", None),
        ("Hooks: after the lock, before the fetch", "hook"),
        ("Two words: are not a stage", None),
        ("Lock:no space after the colon", None),
        ("", None),
        (None, None),
    ],
)
def test_stage_is_the_word_before_the_colon(task: str | None, stage: str | None) -> None:
    assert outcome.stage_of(task) == stage


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        (["deployed", "deployed"], ExitCode.OK),
        (["deployed", "unchanged"], ExitCode.OK),
        (["would_deploy", "unchanged"], ExitCode.OK),
        (["rolled_back", "unchanged"], ExitCode.OK),
        (["unlocked", "ok"], ExitCode.OK),
        (["reverted", "deployed"], ExitCode.REVERTED),
        (["aborted", "aborted"], ExitCode.REVERTED),
        (["aborted", "reverted"], ExitCode.REVERTED),
        (["failed", "deployed"], ExitCode.FAILED),
        (["reverted", "failed"], ExitCode.FAILED),
        (["locked", "deployed"], ExitCode.LOCKED),
        (["locked", "aborted"], ExitCode.LOCKED),
        (["unreachable", "deployed"], ExitCode.UNREACHABLE),
        (["unreachable", "locked"], ExitCode.UNREACHABLE),
        (["failed", "unreachable"], ExitCode.FAILED),
        (["invalid", "invalid"], ExitCode.BAD_INPUT),
        (["invalid", "reverted"], ExitCode.BAD_INPUT),
        (["locked", "invalid"], ExitCode.LOCKED),
        (["an outcome nobody knows"], ExitCode.FAILED),
        (["interrupted", "failed"], ExitCode.INTERRUPTED),
        ([], ExitCode.BAD_INPUT),
    ],
)
def test_the_most_urgent_outcome_decides_the_exit_code(outcomes: list[str], code: ExitCode) -> None:
    assert outcome.exit_code(outcomes) == code


def test_exit_codes_are_the_documented_numbers() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0,
        "REVERTED": 1,
        "FAILED": 2,
        "LOCKED": 3,
        "UNREACHABLE": 4,
        "BAD_INPUT": 5,
        "INTERRUPTED": 130,
    }


# Real runs against the two e2e hosts (tests/cli/rerecord.py): (events, ansible-playbook's rc, exit code,
# outcome per host). Every command's results come from the one schema the playbooks publish.
SCENARIOS: list[tuple[str, int, ExitCode, dict[str, str]]] = [
    ("deploy_deployed", 0, ExitCode.OK, {"web1": "deployed", "web2": "deployed"}),
    ("deploy_unchanged", 0, ExitCode.OK, {"web1": "unchanged", "web2": "unchanged"}),
    ("deploy_migrated", 0, ExitCode.OK, {"web1": "deployed", "web2": "deployed"}),
    ("deploy_reverted", 2, ExitCode.REVERTED, {"web1": "reverted", "web2": "reverted"}),
    ("deploy_aborted_migration", 2, ExitCode.REVERTED, {"web1": "aborted", "web2": "aborted"}),
    ("deploy_invalid", 2, ExitCode.BAD_INPUT, {"web1": "invalid", "web2": "invalid"}),
    ("vault_wrong", 2, ExitCode.BAD_INPUT, {"web1": "invalid", "web2": "invalid"}),
    ("deploy_no_ref", 2, ExitCode.BAD_INPUT, {}),
    ("preview", 0, ExitCode.OK, {"web1": "would_deploy", "web2": "would_deploy"}),
    ("rollback_refused", 2, ExitCode.REVERTED, {"web1": "aborted", "web2": "aborted"}),
    ("rollback_forced", 0, ExitCode.OK, {"web1": "rolled_back", "web2": "rolled_back"}),
    ("releases", 0, ExitCode.OK, {"web1": "ok", "web2": "ok"}),
    ("status_locked", 0, ExitCode.OK, {"web1": "ok", "web2": "ok"}),
    ("status_unreachable", 4, ExitCode.UNREACHABLE, {"ghost": "unreachable", "web1": "ok"}),
    ("unlock", 0, ExitCode.OK, {"web1": "unlocked", "web2": "ok"}),
]


@pytest.mark.parametrize(("name", "rc", "code", "outcomes"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_recorded_runs_end_with_their_outcomes_and_exit_code(
    name: str, rc: int, code: ExitCode, outcomes: dict[str, str]
) -> None:
    run = replay(name)
    results = outcome.results(run)
    assert {host: result["outcome"] for host, result in results.items() if host in outcomes} == outcomes
    assert outcome.run_exit_code(run, results, rc, "successful" if rc == 0 else "failed") == code


def test_a_deploy_reports_release_commit_and_seconds_per_stage() -> None:
    results = outcome.results(replay("deploy_migrated"))
    web1, web2 = results["web1"], results["web2"]
    assert web1["release"] == web2["release"] and len(web1["release"]) == len("20261126T152552Z")
    assert len(web1["commit"]) == 40
    # The migration runs once, on the first host.
    assert web1["migrated"] and "migrate" in web1["stages"] and "migrate" not in web2["stages"]
    assert list(web1["stages"]) == [
        "preflight", "lock", "setup", "fetch", "build", "migrate", "switch", "restart", "verify", "cleanup",
        "report", "unlock",
    ]  # fmt: skip
    assert all(seconds >= 0 for seconds in web1["stages"].values())


def test_an_unchanged_deploy_builds_nothing() -> None:
    results = outcome.results(replay("deploy_unchanged"))
    assert all(r["outcome"] == "unchanged" for r in results.values())
    assert all("build" not in r["stages"] and not r["migrated"] for r in results.values())
    # The release named is the live one, not the ID this run would have given a new release.
    assert all(r["release"] == r["previous"] for r in results.values())


def test_a_reverted_deploy_says_what_failed_and_what_serves() -> None:
    web1 = outcome.results(replay("deploy_reverted"))["web1"]
    assert web1["stage"] == "verify"
    assert web1["current"] == web1["previous"] != web1["release"]
    assert "is not healthy" in web1["message"]
    assert "REVERTED: current points at" in web1["detail"]
    # The whole failure handling (switch back, restart, health check) counts as the revert.
    assert "revert" in web1["stages"] and web1["stages"]["revert"] > 1


def test_a_failed_migration_stops_every_host_before_the_switch() -> None:
    results = outcome.results(replay("deploy_aborted_migration"))
    for result in results.values():
        assert result["stage"] == "migrate"
        assert "switch" not in result["stages"]
        assert "the migrations failed on web1" in result["message"]


def test_rejected_input_names_the_problem() -> None:
    results = outcome.results(replay("deploy_invalid"))
    assert results["web1"]["message"] == "deploy_keep_releases (0) must be at least 1"
    vault_run = replay("vault_wrong")
    wrong_vault = outcome.results(vault_run)
    assert "cannot decrypt vault_sample_db_password, vault_sample_secret_key_base in " in wrong_vault["web1"]["message"]
    assert "encrypted with vault id demo" in wrong_vault["web1"]["message"]
    # The configuration check publishes each host as invalid too (set_stats): the same result, said once.
    for host, published in outcome.reports(vault_run).items():
        assert {key: wrong_vault[host][key] for key in published} == published
        assert "detail" not in wrong_vault[host]


def test_a_missing_ref_stops_on_the_controller() -> None:
    run = replay("deploy_no_ref")
    assert outcome.results(run) == {}
    assert outcome.run_problems(run, {}) == [
        "deploy_ref is not set: pass the branch, tag or commit to deploy, e.g. -e deploy_ref=v1.4.2"
    ]


def test_no_host_at_all_is_bad_input() -> None:
    run = Run()
    assert outcome.run_problems(run, {}) == ["no host matched: check the inventory and --limit"]
    assert outcome.run_problems(run, {}, "web9") == [
        "no host of the inventory matched --limit web9: check the pattern (host or group names, e.g. web1,web2)"
    ]
    assert outcome.run_exit_code(run, {}, 0, "successful") == ExitCode.BAD_INPUT


def test_a_cancelled_run_is_interrupted() -> None:
    run = replay("deploy_deployed")
    assert outcome.run_exit_code(run, outcome.results(run), 0, "canceled") == ExitCode.INTERRUPTED
    # Stopped before the report: each host says where it was.
    run = Run(interrupted=True)
    for clock, event in enumerate(events("deploy_deployed")[:40]):
        run.feed(event, now=float(clock))
    results = outcome.results(run)
    assert {r["outcome"] for r in results.values()} == {"interrupted"}
    assert results["web1"]["message"].startswith("interrupted at: ")
    assert outcome.run_exit_code(run, results, -15, "canceled") == ExitCode.INTERRUPTED


def test_a_failing_playbook_with_good_host_results_is_a_failure() -> None:
    run = replay("releases")
    assert outcome.run_exit_code(run, outcome.results(run), 1, "failed") == ExitCode.FAILED


def test_the_preview_lists_commit_migrations_and_what_cleanup_would_remove() -> None:
    web1 = outcome.results(replay("preview"))["web1"]
    assert len(web1["commit"]) == 40
    assert web1["pending_migrations"] == ["20240301000000"]
    # deploy_keep_releases=2: all but the newest of today's releases would go.
    assert web1["would_remove"] and web1["current"] not in web1["would_remove"]
    assert web1["current"] == web1["previous"] != web1["release"]


def test_rollback_reports_from_and_to() -> None:
    refused = outcome.results(replay("rollback_refused"))["web1"]
    assert "would run on a newer schema" in refused["message"]
    done = outcome.results(replay("rollback_forced"))["web1"]
    assert done["from"] != done["to"] and done["to"]


def test_status_shows_current_lock_holder_and_health() -> None:
    results = outcome.results(replay("status_locked"))
    assert results["web1"]["lock"]["user"] == "alice" and results["web2"]["lock"] is None
    assert results["web1"]["health"]["healthy"] is True and results["web1"]["health"]["status"] == 200
    assert results["web1"]["current_release"]["id"] == results["web1"]["current"]


def test_unlock_names_the_holder_it_removed() -> None:
    results = outcome.results(replay("unlock"))
    assert results["web1"]["previous_holder"]["user"] == "alice"
    assert results["web2"]["previous_holder"] is None


def test_releases_lists_every_release_and_marks_the_current_one() -> None:
    web1 = outcome.results(replay("releases"))["web1"]
    assert [r["id"] for r in web1["releases"] if r["current"]] == [web1["current"]]
    assert web1["rollback_target"] in [r["id"] for r in web1["releases"]]


def test_an_unreachable_host_says_why() -> None:
    ghost = outcome.results(replay("status_unreachable"))["ghost"]
    assert "Connection refused" in ghost["message"] or "connect" in ghost["message"].lower()


def _event(kind: str, host: str, task: str, **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task": task, **data}}


def test_a_host_lost_without_a_reason_from_ssh_says_what_that_means() -> None:
    # Ansible's message when the connection dies mid-task: ssh's stderr, empty here, was to follow the colon.
    said = 'Data could not be sent to remote host "127.0.0.1". Make sure this host can be reached over ssh: '
    run = Run()
    run.feed(_event("runner_on_start", "web1", "Switch: point current at the new release"), now=0.0)
    run.feed(_event("runner_on_unreachable", "web1", "Switch: point current at the new release", res={"msg": said}))
    message = outcome.results(run)["web1"]["message"]
    why = "ssh gave no reason (the connection was lost mid-task: the host went down, or its sshd stopped)"
    assert message == f"{said.strip()} {why}"


def test_skipped_tasks_make_no_stage_and_ignored_failures_are_no_failure() -> None:
    run = Run()
    for clock, event in enumerate(
        [
            _event("runner_on_start", "web1", "Lock: take the lock"),
            _event("runner_on_ok", "web1", "Lock: take the lock", duration=0.5, res={}),
            _event("runner_on_start", "web1", "Migrate: once"),
            _event("runner_on_failed", "web1", "Migrate: once", duration=2.0, ignore_errors=True, res={"msg": "x"}),
            _event("runner_on_start", "web1", "Cleanup: remove old releases"),
            _event("runner_on_skipped", "web1", "Cleanup: remove old releases", res={}),
        ]
    ):
        run.feed(event, now=float(clock))
    web1 = run.hosts["web1"]
    assert web1.stages == {"lock": 0.5, "migrate": 2.0}
    assert web1.failures == []
    # The live line stays at the stage the host was in: a skipped task enters none.
    assert web1.stage == "migrate" and web1.task == "Cleanup: remove old releases"
    assert web1.duration == 5.0


def test_errors_outside_tasks_are_kept_without_colours() -> None:
    run = Run()
    run.feed({"event": "verbose", "stdout": "\x1b[0;31m[ERROR]: Decryption failed\x1b[0m"})
    run.feed({"event": "verbose", "stdout": "PLAY [Deploy] ****"})
    # The summary quoting a message with the word in it is no error of ansible-playbook's.
    run.feed({"event": "verbose", "stdout": "DEPLOY SUMMARY: v1\n  web1  invalid  untouched: ... (ERROR: no such key)"})
    assert run.errors == ["[ERROR]: Decryption failed"]


def _migrate_event(res: dict[str, Any], duration: float) -> dict[str, Any]:
    return {
        "event": "runner_on_failed" if res.get("failed") else "runner_on_ok",
        "event_data": {"host": "web1", "task": "Migrate: dump the database, then run the migrations once",
                       "task_action": "deployctl.core.release_command", "res": res, "duration": duration},
    }  # fmt: skip


def test_the_dump_taken_in_the_migrate_call_counts_as_the_backup_stage() -> None:
    run = Run()
    run.feed(_migrate_event({"changed": True, "rc": 0, "backup": {"seconds": 0.1, "elapsed": 0.4}}, 2.9))
    assert run.hosts["web1"].stages == pytest.approx({"backup": 0.4, "migrate": 2.5})


def test_a_migrate_call_that_failed_at_its_dump_ran_no_migration() -> None:
    run = Run()
    run.feed(_migrate_event({"failed": True, "stage": "backup", "msg": "backup: cannot run `pg_dump`"}, 0.6))
    assert run.hosts["web1"].stages == {"backup": 0.6}


def test_a_migrate_call_without_a_dump_is_all_migration() -> None:
    assert outcome.stage_parts("migrate", {"rc": 0}, 2.1) == [("migrate", 2.1)]


def test_the_fetch_and_build_call_is_fetch_build_live_and_split_by_its_result() -> None:
    run = Run()
    task = "Fetch and build: take the lock, stage the release (app user, mirror, export, config), build it"
    built = {"changed": True, "release_id": "R2", "elapsed": 4.1, "build": {"rc": 0, "elapsed": 3.6}}
    run.feed({"event": "runner_on_start", "event_data": {"host": "web1", "task": task}})
    assert run.hosts["web1"].stage == "fetch+build"
    run.feed({"event": "runner_on_ok", "event_data": {"host": "web1", "task": task, "res": built, "duration": 4.5}})
    assert run.hosts["web1"].stages == pytest.approx({"fetch": 0.9, "build": 3.6})
    # A build that failed in the call still counts as build (its result has the seconds); a call that did not
    # build (a hook comes between, the commit is live already) is all fetch, unless it switched the live commit.
    failed = {"failed": True, "stage": "test", "elapsed": 3.0, "build": {"elapsed": 2.5}}
    assert outcome.stage_parts("fetch+build", failed, 3.4) == [("fetch", pytest.approx(0.9)), ("build", 2.5)]
    assert outcome.stage_parts("fetch+build", {"already_live": True}, 0.7) == [("fetch", 0.7)]
    live = {"already_live": True, "elapsed": 0.5, "switch": {"health": {"healthy": True}, "elapsed": 0.3}}
    assert outcome.stage_parts("fetch+build", live, 0.8) == [("fetch", pytest.approx(0.5)), ("switch", 0.3)]
    unhealthy = {"failed": True, "stage": "verify", "switch": {"failed": True, "elapsed": 1.2}}
    assert outcome.stage_parts("fetch+build", unhealthy, 1.5) == [("fetch", pytest.approx(0.3)), ("switch", 1.2)]
    # A one-host batch's call: its build, the dump and the migrations, the switch (and a failed one's switch back).
    whole = {"elapsed": 7.0, "build": {"elapsed": 2.5}, "migrate": {"elapsed": 2.0, "backup": {"elapsed": 0.5}},
             "switch": {"elapsed": 2.2}}  # fmt: skip
    assert outcome.stage_parts("fetch+build", whole, 7.3) == [
        ("fetch", pytest.approx(0.6)), ("build", 2.5), ("backup", 0.5), ("migrate", 1.5), ("switch", 2.2),
    ]  # fmt: skip
    reverted = {"failed": True, "stage": "verify", "build": {"elapsed": 2.5},
                "switch": {"failed": True, "elapsed": 3.0, "revert": {"elapsed": 1.0}}}  # fmt: skip
    assert outcome.stage_parts("fetch+build", reverted, 6.0) == [
        ("fetch", pytest.approx(0.5)), ("build", 2.5), ("switch", 2.0), ("revert", 1.0),
    ]  # fmt: skip
    no_dump = {
        "failed": True,
        "stage": "migrate",
        "build": {"elapsed": 2.5},
        "migrate": {"failed": True, "elapsed": 1.9},
    }
    assert outcome.stage_parts("fetch+build", no_dump, 5.0) == [
        ("fetch", pytest.approx(0.6)), ("build", 2.5), ("migrate", 1.9),
    ]  # fmt: skip
    dump_failed = {"failed": True, "stage": "backup", "build": {"elapsed": 2.5},
                   "migrate": {"failed": True, "elapsed": 0.4, "backup": {"failed": True, "elapsed": 0.4}}}  # fmt: skip
    assert outcome.stage_parts("fetch+build", dump_failed, 3.5) == [
        ("fetch", pytest.approx(0.6)), ("build", 2.5), ("backup", 0.4),
    ]  # fmt: skip


def test_the_switch_back_in_the_switch_call_counts_as_the_revert_stage() -> None:
    run = Run()
    failed = {"failed": True, "stage": "verify", "switched": True, "previous": "R1", "msg": "verify: not healthy",
              "revert": {"changed": True, "health": {"healthy": True}, "elapsed": 1.5}}  # fmt: skip
    task = "Switch: point current at the new release, restart the app and check its health"
    run.feed({"event": "runner_on_start", "event_data": {"host": "web1", "task": task}})
    ended = {"host": "web1", "task": task, "res": failed, "duration": 9.5}
    run.feed({"event": "runner_on_failed", "event_data": ended})
    # The failure's bookkeeping that follows is the revert's too, from its start (the live progress line).
    run.feed({"event": "runner_on_start", "event_data": {"host": "web1", "task": "Failure: note what failed"}})
    assert run.hosts["web1"].stage == "revert"
    assert run.hosts["web1"].stages == pytest.approx({"switch": 8.0, "revert": 1.5})
    # A switch call that failed before it switched has no revert part.
    assert outcome.stage_parts("switch", {"failed": True, "switched": False}, 2.0) == [("switch", 2.0)]


def test_revert_all_s_switch_back_of_earlier_hosts_is_their_revert_not_the_failing_host_s() -> None:
    # rollout_revert.yml runs in web3's turn (its batch stopped the rollout), delegated to each host this run switched:
    # its seconds are their revert, shared in proportion to each item's `elapsed` (the release module's); none web3's.
    run = Run()
    for host in ("web1", "web2", "web3"):
        run.feed(_event("runner_on_ok", host, "Lock: take the lock", duration=0.1, res={}))
    task = "Revert: switch the hosts this run switched back to their previous release (deploy_on_batch_failure: ..)"
    items = [{"item": "web1", "elapsed": 1.5, "changed": True}, {"item": "web2", "elapsed": 1.25, "changed": True}]
    run.feed(_event("runner_on_ok", "web3", task, duration=3.5, res={"changed": True, "results": items}))
    # A loop over hosts without timed work (a set_fact per host) moves no seconds.
    report = "Report: what the failed rollout did to the hosts this run switched"
    run.feed(_event("runner_on_ok", "web3", report, duration=0.2, res={"results": [{"item": "web1"}, {"item": {}}]}))
    assert run.hosts["web1"].stages == pytest.approx({"lock": 0.1, "revert": 3.5 * 1.5 / 2.75})
    assert run.hosts["web2"].stages == pytest.approx({"lock": 0.1, "revert": 3.5 * 1.25 / 2.75})
    assert run.hosts["web3"].stages == pytest.approx({"lock": 0.1, "report": 0.2})
    # Run in the turn of a host it also switched back (the batch's first, healthy): that host's share is its own.
    both = [items[0], {**items[1], "elapsed": 1.5}]
    run.feed(_event("runner_on_ok", "web1", task, duration=2.0, res={"results": both}))
    assert run.hosts["web1"].stages["revert"] == pytest.approx(3.5 * 1.5 / 2.75 + 1.0)


def test_a_failed_local_before_command_and_its_stop_are_one_column() -> None:
    # The stop's name says the stage the report names (local_before); the table shows one "Local" column.
    run = Run()
    command = "Local: run the controller-side hook commands"
    run.feed(_event("runner_on_failed", "web1", command, duration=0.4, ignore_errors=True, res={"msg": "exited 3"}))
    stop = "Local_before: stop every host when a command failed, before any host is touched"
    for host in ("web1", "web2"):
        run.feed(_event("runner_on_failed", host, stop, duration=0.05, res={"msg": "exited 3"}))
    assert run.hosts["web1"].stages == pytest.approx({"local": 0.45})
    assert progress._stage_columns(run.hosts.values()) == ["local"]


def test_notifications_are_read_from_set_stats_and_a_failed_one_is_a_warning_line() -> None:
    run = Run()
    run.feed({"event": "playbook_on_stats", "event_data": {"artifact_data": {"deployctl": {
        "hosts": {"web1": {"outcome": "deployed"}},
        "notifications": {"grafana": {"ok": True, "status": 200, "message": "Grafana answered HTTP 200"},
                          "webhook": {"ok": False, "status": 500, "message": "the webhook answered HTTP 500: oops"}},
    }}}})  # fmt: skip
    found = outcome.notifications(run)
    assert sorted(found) == ["grafana", "webhook"]
    console = Console(width=200, record=True)
    console.print(progress.notifications(found))
    assert console.export_text().splitlines() == [
        "notified grafana: Grafana answered HTTP 200",
        "warning: notification to webhook failed: the webhook answered HTTP 500: oops",
    ]
    assert outcome.notifications(Run()) == {}


def test_a_failed_local_after_command_is_the_run_s_problem_though_every_host_deployed() -> None:
    # deploy_local_after runs once, on the batch's first host, after every host's report: a failure there
    # fails the run (ansible-playbook rc 2) and changes no host's outcome.
    run = replay("deploy_deployed")
    said = "deploy_local_after command ['./notify-chat'] exited 3: chat is down"
    run.feed(
        {
            "event": "runner_on_failed",
            "event_data": {
                "host": "web1", "task": "Local: run the controller-side hook commands",
                "task_action": "deployctl.core.deploy_local_hook", "duration": 0.2, "ignore_errors": None,
                "res": {"failed": True, "msg": said},
            },
        },
        now=1e9,
    )  # fmt: skip
    results = outcome.results(run)
    assert {outcome.outcome_of(result) for result in results.values()} == {"deployed"}
    assert outcome.run_exit_code(run, results, 2, "failed") == ExitCode.FAILED
    assert outcome.local_hook_failures(run) == [said]
    assert said in outcome.run_problems(run, results)
    # Said once, as the run's problem: not again as web1's detail.
    assert "detail" not in results["web1"]
    assert "every host's deploy succeeded, then a deploy_local_after command failed" in progress.LOCAL_HOOK_FAILED


def test_a_failed_local_after_command_does_not_hide_why_the_deploy_failed() -> None:
    run = replay("deploy_reverted")
    before = outcome.results(run)
    host = next(name for name, result in before.items() if result.get("detail"))
    run.feed(
        {
            "event": "runner_on_failed",
            "event_data": {
                "host": host, "task": "Local: run the controller-side hook commands",
                "task_action": "deployctl.core.deploy_local_hook", "duration": 0.2, "ignore_errors": None,
                "res": {"failed": True, "msg": "deploy_local_after command ['./notify-chat'] exited 3"},
            },
        },
        now=1e9,
    )  # fmt: skip
    after = outcome.results(run)
    assert after[host]["detail"] == before[host]["detail"]
    assert "REVERTED" in after[host]["detail"]


@pytest.mark.parametrize(
    ("outcomes", "code", "said"),
    [
        # A rollout stopped in its second batch: the canary keeps the new release.
        (
            {"web1": "deployed", "web2": "reverted", "web3": "aborted"},
            ExitCode.REVERTED,
            "failed part-way: web1 runs the new release; every other host serves what it served before",
        ),
        # A rollback refused on one host of two.
        (
            {"web1": "rolled_back", "web2": "invalid"},
            ExitCode.BAD_INPUT,
            "bad input on a host (nothing changed there): web1 was rolled back; every other host serves what it "
            "served before",
        ),
        # A host lost during the switch, while the other switched: a mixed fleet, said host by host.
        (
            {"web1": "unreachable", "web2": "deployed", "web3": "aborted"},
            ExitCode.UNREACHABLE,
            "web1 could not be reached, and what it serves now is unknown (deployctl status shows it): web2 runs the "
            "new release; every other host serves what it served before",
        ),
        (
            {"web1": "unreachable", "web2": "unreachable", "web3": "deployed"},
            ExitCode.UNREACHABLE,
            "web1, web2 could not be reached, and what they serve now is unknown (deployctl status shows it): web3 "
            "runs the new release",
        ),
        # Two hosts, one lost after the other switched: no "other host" to speak of.
        (
            {"web1": "deployed", "web2": "unreachable"},
            ExitCode.UNREACHABLE,
            "web2 could not be reached, and what it serves now is unknown (deployctl status shows it): web1 runs the "
            "new release",
        ),
        # Nobody changed: the line names the lost host, which "a host could not be reached" left to the table.
        ({"web1": "unreachable", "web2": "aborted"}, ExitCode.UNREACHABLE, "web1 could not be reached"),
        (
            {"web1": "unreachable", "web2": "unreachable", "web3": "ok"},
            ExitCode.UNREACHABLE,
            "web1, web2 could not be reached",
        ),
        ({"web1": "reverted", "web2": "aborted"}, ExitCode.REVERTED, None),
        ({"web1": "invalid", "web2": "unchanged"}, ExitCode.BAD_INPUT, None),
        ({"web1": "deployed", "web2": "failed"}, ExitCode.FAILED, None),
    ],
)
def test_a_run_that_failed_part_way_does_not_claim_every_host_is_as_before(outcomes, code, said) -> None:
    results = {host: {"outcome": outcome_} for host, outcome_ in outcomes.items()}
    assert outcome.exit_code(outcomes.values()) == code
    assert outcome.part_way(code, results) == said


def test_a_host_whose_batch_never_started_is_untouched() -> None:
    # web1's batch failed its migrations and stopped the rollout: web2, of the play (play_hosts) but in a later
    # batch, has no event and no report; it is listed as untouched, and its exit code is web1's.
    run = Run()
    for event in events("deploy_aborted_migration"):
        if (event.get("event_data") or {}).get("host") == "web2":
            continue
        if event["event"] == "playbook_on_stats":
            event["event_data"]["artifact_data"]["deployctl"]["hosts"].pop("web2")
        run.feed(event)
    results = outcome.results(run)
    assert results["web1"]["outcome"] == "aborted"
    assert results["web2"]["outcome"] == "untouched"
    assert "an earlier batch failed, so this one was not started" in results["web2"]["message"]
    assert outcome.run_exit_code(run, results, 2, "failed") == ExitCode.REVERTED
    console = Console(width=160, record=True)
    console.print(progress.deploy_table(run, results, 160))
    assert any(line.split()[:1] == ["web2"] and "untouched" in line for line in console.export_text().splitlines())


@pytest.mark.parametrize(
    ("release", "state"),
    [
        ({"state": "active", "current": True, "verified": True}, "active"),
        ({"state": "built", "deactivated_at": "2024-01-02T00:00:00Z"}, "replaced"),
        ({"state": "built", "deactivated_at": "2024-01-02T00:00:00Z", "verified": False}, "replaced, never checked"),
        ({"state": "active", "current": True, "verified": False}, "active, never checked"),
        # Its directory removed by hand.
        ({"state": "built", "deactivated_at": "2024-01-02T00:00:00Z", "present": False}, "replaced, missing"),
        ({"state": "building", "present": False}, "building"),
        ({"state": "built"}, "built"),
    ],
)
def test_the_releases_state_column_says_which_release_never_passed_a_check(release, state) -> None:
    assert progress.release_state(release) == state


@pytest.mark.parametrize(
    ("code", "outcomes", "said"),
    [
        (5, {"web1": "invalid", "web2": "invalid"},
         "bad input on web1, web2 (the messages above say what to fix): nothing changed"),
        (130, {"web1": "deployed", "web2": "unchanged"},
         "interrupted after every host had reported (web1: deployed; web2: unchanged); check `deployctl status`"),
        # A rollback in batches refused in its first: the later batch was never started.
        (5, {"web1": "invalid", "web2": "untouched", "web3": "untouched"},
         "bad input on web1 (the messages above say what to fix): nothing changed; web2, web3 not started (a later "
         "batch)"),
        (5, {"web1": "untouched"}, None),
        (5, {"web1": "invalid", "web2": "rolled_back"}, None),  # part_way's words
        (130, {"web1": "deployed", "web2": "interrupted"}, None),
        (1, {"web1": "reverted"}, None),
        (5, {}, None),
    ],
)  # fmt: skip
def test_the_closing_words_name_the_hosts_where_the_exit_code_s_meaning_says_too_little(code, outcomes, said) -> None:
    results = {host: {"outcome": each} for host, each in outcomes.items()}
    assert outcome.settled(outcome.ExitCode(code), results) == said
