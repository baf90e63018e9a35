"""The summary line per host that ends a deploy or a rollback (the deploy_summary callback)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ansible_collections.deployctl.core.plugins.callback.deploy_summary import CallbackModule


def summary(
    ref: str, hosts: dict[str, dict[str, Any]], notifications: dict | None = None, run: str | None = None
) -> list[str]:
    shown: list[str] = []
    callback = CallbackModule()
    callback._display = SimpleNamespace(display=shown.append)
    data = {"ref": ref, "play_hosts": sorted(hosts), "hosts": hosts, "notifications": notifications or {}}
    if run:
        data["run"] = run
    callback.v2_playbook_on_stats(SimpleNamespace(custom={"_run": {"deployctl": data}}))
    return shown[0].splitlines()


def test_a_rollback_says_where_each_host_went_and_why_one_did_not() -> None:
    lines = summary(
        "",
        {
            "web1": {"outcome": "rolled_back", "release": "R1", "from": "R2", "to": "R1", "current": "R1"},
            "web2": {
                "outcome": "aborted",
                "stage": "rollback",
                "release": "",
                "from": "R2",
                "to": None,
                "current": "R2",
                "message": "nothing to roll back to on web2",
            },
        },
    )

    assert lines[0] == "ROLLBACK SUMMARY: to R1"
    assert lines[1].split(None, 2) == ["web1", "rolled_back", "runs R1 now, rolled back from R2"]
    assert lines[2].split(None, 2) == [
        "web2",
        "aborted",
        "runs R2, unchanged: the rollback stopped at stage rollback: nothing to roll back to on web2",
    ]


def test_an_unchanged_deploy_names_the_live_release() -> None:
    lines = summary(
        "v2", {"web1": {"outcome": "unchanged", "release": "R2", "commit": "16f2d1db342f", "current": "R2"}}
    )

    assert lines == [
        "DEPLOY SUMMARY: v2 as release R2",
        "  web1                 unchanged  runs R2 (commit 16f2d1db), already live: nothing changed",
    ]


def test_a_first_deploy_stopped_early_names_no_release_and_no_empty_field() -> None:
    outcome = {"outcome": "aborted", "stage": "fetch", "release": "R1", "bad_input": True, "current": ""}

    [_, line] = summary("v9", {"web1": outcome})

    assert (
        line.split(None, 2)[2]
        == "runs no release, unchanged: the deploy stopped at stage fetch before changing anything"
    )


def test_a_deploy_stopped_before_the_release_existed_names_none() -> None:
    # The fetch could not reach the repository (not bad input): the run's release ID was never created here.
    outcome = {"outcome": "aborted", "stage": "fetch", "release": "", "bad_input": False, "current": "R1"}

    assert summary("v2", {"web1": outcome}) == [
        "DEPLOY SUMMARY: v2",
        "  web1                 aborted    runs R1, unchanged: the deploy stopped at stage fetch before changing "
        "anything",
    ]


def test_a_deploy_stopped_by_a_local_before_command_does_not_say_the_host_runs_no_release() -> None:
    # No host was read before the controller-side command failed: what each runs is not known here.
    outcome = {"outcome": "aborted", "stage": "local_before", "release": "", "previous": "", "current": ""}

    assert summary("v2", {"web1": outcome}) == [
        "DEPLOY SUMMARY: v2",
        "  web1                 aborted    unchanged: the deploy stopped at stage local_before, before any host was "
        "touched",
    ]


def test_a_failed_notification_is_a_warning_line_and_a_sent_one_says_nothing() -> None:
    deployed = {"outcome": "deployed", "release": "R2", "commit": "16f2d1db342f", "previous": "R1", "current": "R2"}
    notifications = {
        "grafana": {"ok": True, "status": 200, "message": "Grafana answered HTTP 200"},
        "sentry": {
            "ok": False,
            "rc": 1,
            "message": "Sentry: sentry-cli releases new exited 1: error: API request failed",
        },
    }

    lines = summary("v2", {"web1": deployed}, notifications)

    assert lines[2:] == [
        "  warning: notification to sentry failed: Sentry: sentry-cli releases new exited 1: error: API request failed"
    ]


def test_a_host_switched_back_with_a_stopped_rollout_says_why_beside_the_host_that_failed() -> None:
    why = "switched back to the release it ran before: the rollout of R2 stopped when web5 failed"
    lines = summary(
        "main",
        {
            # A healthy host of an earlier batch: its deployed report, merged with the revert_all outcome.
            "web1": {"outcome": "reverted", "stage": "rollout", "release": "R2", "previous": "R1", "current": "R1",
                     "commit": "16f2d1db342f", "message": why},
            "web5": {"outcome": "reverted", "stage": "verify", "release": "R2", "current": "R1", "message": "503"},
        },
    )  # fmt: skip

    assert lines[1].split(None, 2) == ["web1", "reverted", f"runs R1 again: {why}"]
    assert lines[2].split(None, 2) == [
        "web5",
        "reverted",
        "runs R1 again: release R2 failed at stage verify and was reverted",
    ]


def test_a_run_refused_before_any_release_names_none() -> None:
    refused = {"outcome": "invalid", "stage": "preflight", "message": "--skip-tags always would leave out ..."}

    deploy = summary("v1", {"web1": refused})
    rollback = summary("", {"web1": refused})

    assert deploy[0] == "DEPLOY SUMMARY: v1"
    assert rollback[0] == "ROLLBACK SUMMARY"
    # Refused as a whole with no ref (--tags skips the controller play's check): a deploy still.
    assert summary("", {"web1": refused}, run="deploy")[0] == "DEPLOY SUMMARY"
    assert deploy[1].split(None, 2)[1:] == [
        "invalid",
        "untouched: the input was rejected before any host was touched (--skip-tags always would leave out ...)",
    ]


def test_a_host_of_a_batch_never_started_is_untouched_and_keeps_serving() -> None:
    shown: list[str] = []
    callback = CallbackModule()
    callback._display = SimpleNamespace(display=shown.append)
    deployed = {"outcome": "deployed", "release": "R2", "commit": "16f2d1db342f", "previous": "R1", "current": "R2"}
    data = {"ref": "v2", "play_hosts": ["web1", "web2"], "hosts": {"web1": deployed}}
    callback.v2_playbook_on_stats(SimpleNamespace(custom={"_run": {"deployctl": data}}))

    line = shown[0].splitlines()[2]
    assert line.split(None, 1) == [
        "web2",
        "untouched: not reached: an earlier batch failed, so this one was not started; it serves what it served before",
    ]


def test_a_host_lost_mid_run_is_unreachable_not_untouched() -> None:
    shown: list[str] = []
    callback = CallbackModule()
    callback._display = SimpleNamespace(display=shown.append)
    lost = "Data could not be sent to remote host. ssh: connect to host 10.0.0.2 port 22: No route to host"
    callback.v2_runner_on_unreachable(
        SimpleNamespace(_host=SimpleNamespace(get_name=lambda: "web2"), _result={"msg": lost, "unreachable": True})
    )
    deployed = {"outcome": "deployed", "release": "R2", "commit": "16f2d1db342f", "previous": "R1", "current": "R2"}
    data = {"ref": "v2", "play_hosts": ["web1", "web2", "web3"], "hosts": {"web1": deployed}}
    callback.v2_playbook_on_stats(SimpleNamespace(custom={"_run": {"deployctl": data}}))

    title, web1, web2, web3 = shown[0].splitlines()
    assert (title, web1.split()[:2]) == ("DEPLOY SUMMARY: v2 as release R2", ["web1", "deployed"])
    assert web2.split(None, 2) == [
        "web2",
        "unreachable",
        f"could not be reached, so this run cannot say what it serves: {lost}",
    ]
    assert web3.split(None, 1)[1].startswith("untouched: not reached")


def test_a_playbook_other_than_deploy_or_rollback_says_nothing_when_no_host_reported() -> None:
    shown: list[str] = []
    callback = CallbackModule()
    callback._display = SimpleNamespace(display=shown.append)
    callback.v2_runner_on_unreachable(
        SimpleNamespace(_host=SimpleNamespace(get_name=lambda: "web1"), _result={"msg": "x"})
    )
    # The lock playbook publishes its hosts before contacting them too, with no run.
    callback.v2_playbook_on_stats(SimpleNamespace(custom={"_run": {"deployctl": {"run": "", "play_hosts": ["web1"]}}}))
    assert shown == []


def test_a_locked_host_says_whose_lock() -> None:
    by_hand = "the deploy lock on this host was taken by hand: bob since 2026-12-01T06:00:00Z: 'maint window'"
    lines = summary("v2", {"web1": {"outcome": "locked", "stage": "lock", "message": by_hand}})
    assert lines[1].split(None, 2)[1:] == ["locked", f"unchanged: {by_hand}"]


def test_a_logs_run_shows_each_host_s_lines_and_says_which_log_was_empty() -> None:
    shown = summary(
        "",
        {
            "web1": {"outcome": "ok", "source": "app", "lines": ["GET /up 200"], "warning": ""},
            "web2": {"outcome": "ok", "source": "app", "lines": [], "warning": "the app log is empty: /srv/x.log"},
            "web3": {"outcome": "invalid", "source": "migrate", "message": "release id 'x' is not valid"},
        },
    )
    assert shown == [
        "web1 | GET /up 200",
        "web2: warning: the app log is empty: /srv/x.log",
        "web3: invalid: release id 'x' is not valid",
    ]


def test_a_status_says_only_its_warning_once_for_the_hosts_that_have_it() -> None:
    split = "the hosts run different commits (web1: 11111111 (v1); web2: 22222222 (v2)): deploy one ref"
    lines = summary(
        "",
        {
            "web1": {"outcome": "ok", "current": "R1", "warning": split},
            "web2": {"outcome": "unhealthy", "current": "R2", "warning": split},
        },
    )
    assert lines == [f"web1, web2: warning: {split}"]

    shown: list[str] = []
    callback = CallbackModule()
    callback._display = SimpleNamespace(display=shown.append)
    quiet = {"play_hosts": ["web1"], "hosts": {"web1": {"outcome": "ok", "current": "R1", "warning": ""}}}
    callback.v2_playbook_on_stats(SimpleNamespace(custom={"_run": {"deployctl": quiet}}))
    assert shown == []
