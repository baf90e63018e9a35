"""The notifications' payloads and the run's overall outcome (deploy_notify's plugin_utils); the
HTTP and sentry-cli calls themselves are checked end to end (tests/e2e/test_notifications.py)."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.deployctl.core.plugins.plugin_utils import _notify_grafana as grafana
from ansible_collections.deployctl.core.plugins.plugin_utils import _notify_sentry as sentry
from ansible_collections.deployctl.core.plugins.plugin_utils import _notify_webhook as webhook
from ansible_collections.deployctl.core.plugins.plugin_utils._notify_run import (
    RunData,
    overall_outcome,
    post_json,
    scrub,
    skip_reason,
    with_lost_hosts,
)

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def run_of(**hosts: str) -> RunData:
    return RunData(
        kind="deploy", app="shop", environment="production", ref="v2", release="20260101T000000Z", by="alice",
        started_at=1_700_000_000.5, finished_at=1_700_000_042.25,
        hosts={name: {"outcome": outcome, "commit": COMMIT, "current": "R", "stage": ""}
               for name, outcome in hosts.items()},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "outcomes", "expected"),
    [
        ("deploy", ["deployed", "deployed"], "deployed"),
        ("deploy", ["deployed", "unchanged"], "deployed"),
        ("rollback", ["rolled_back", "unchanged"], "rolled_back"),
        ("deploy", ["deployed", "reverted"], "reverted"),
        ("deploy", ["reverted", "aborted"], "aborted"),
        ("deploy", ["aborted", "failed", "reverted"], "failed"),
        ("deploy", ["failed", "locked"], "locked"),
        ("deploy", ["deployed", "something new"], "failed"),
        ("rollback", ["unreachable", "aborted"], "unreachable"),
    ],
)
def test_the_run_succeeded_when_every_host_did_else_its_worst_host_says(kind, outcomes, expected) -> None:
    assert overall_outcome(kind, outcomes) == expected


@pytest.mark.parametrize(
    ("outcomes", "last_batch", "reason"),
    [
        ({"web1": "deployed"}, True, ""),
        ({"web1": "unchanged", "web2": "unchanged"}, True, "every host was unchanged: nothing happened"),
        ({"web1": "unchanged", "web2": "deployed"}, True, ""),
        ({"web1": "deployed"}, False, "a later serial batch notifies"),
        # A batch that stops the rollout is the run's last (the role passes last_batch true then) ...
        ({"web1": "deployed", "web2": "reverted"}, True, ""),
        # ... one whose failure deploy_max_fail_percentage tolerates is not: the run's end tells it.
        ({"web1": "deployed", "web2": "reverted"}, False, "a later serial batch notifies"),
        ({}, True, "no host reported an outcome"),
    ],
)
def test_a_run_notifies_once_at_its_end_or_at_its_failure(outcomes, last_batch, reason) -> None:
    assert skip_reason({h: {"outcome": o} for h, o in outcomes.items()}, last_batch) == reason


def test_a_run_refused_on_its_input_everywhere_tells_nobody() -> None:
    refused = {"outcome": "aborted", "bad_input": True, "message": "unknown ref v9-typo"}
    reason = skip_reason({"web1": refused, "web2": refused}, True)
    assert reason == "every host refused the input before changing anything"
    # One host got further: the run did something, and says so.
    assert skip_reason({"web1": refused, "web2": {"outcome": "reverted"}}, True) == ""


def test_a_host_of_the_batch_without_a_result_counts_as_lost() -> None:
    hosts = with_lost_hosts({"web1": {"outcome": "deployed"}}, ["web1", "web2"])
    assert hosts["web1"] == {"outcome": "deployed"}
    assert hosts["web2"]["outcome"] == "unreachable"
    assert overall_outcome("deploy", (h["outcome"] for h in hosts.values())) == "unreachable"


def test_the_grafana_annotation_spans_the_run_in_milliseconds_with_its_tags_and_text() -> None:
    body = grafana.annotation(run_of(web1="deployed", web2="reverted"), ["team:shop"])
    assert body == {
        "time": 1_700_000_000_500,
        "timeEnd": 1_700_000_042_250,
        "tags": ["deployctl", "app:shop", "env:production", "release:20260101T000000Z", "outcome:reverted",
                 "kind:deploy", "team:shop"],
        "text": "shop v2 (01234567) reverted on production by alice: web1 deployed, web2 reverted",
    }  # fmt: skip


def test_sentry_gets_the_commit_as_version_and_set_commits_only_with_a_repository() -> None:
    run = run_of(web1="deployed")
    assert sentry.commands(run, "acme/shop") == [
        ["releases", "new", COMMIT],
        ["releases", "set-commits", COMMIT, "--commit", f"acme/shop@{COMMIT}"],
        ["releases", "finalize", COMMIT],
        ["deploys", "new", "--release", COMMIT, "--env", "production", "--name", "20260101T000000Z",
         "--started", "1700000000", "--finished", "1700000042"],
    ]  # fmt: skip
    assert [argv[:2] for argv in sentry.commands(run, "")] == [
        ["releases", "new"],
        ["releases", "finalize"],
        ["deploys", "new"],
    ]


def test_a_missing_sentry_cli_says_how_to_install_it() -> None:
    target = sentry.SentryTarget(url="http://x", org="o", project="p", token="t", cli="/nonexistent/sentry-cli")
    sent = sentry.release(run_of(web1="deployed"), target, 5)
    assert not sent.ok
    assert "'/nonexistent/sentry-cli' was not found" in sent.message
    assert "npm install -g @sentry/cli@3.8.0" in sent.message


def test_sentry_cli_errors_lose_the_backtrace_and_the_token() -> None:
    output = "error: API request failed\n\nCaused by:\n    bad token tok123\n\nStack backtrace:\n   0: anyhow\n"
    assert scrub(sentry.error_text(output), ["tok123"]) == "error: API request failed Caused by: bad token ********"


def test_the_webhook_document_names_the_run_and_each_host() -> None:
    run = RunData(
        kind="rollback", app="shop", environment="staging", ref="", release="R2", by="bob",
        started_at=1_700_000_000, finished_at=1_700_000_060,
        hosts={"web1": {"outcome": "rolled_back", "release": "R1", "current": "R1", "commit": COMMIT, "from": "R2",
                        "stage": "", "message": ""}},
    )  # fmt: skip
    assert webhook.body(run) == {
        "kind": "rollback", "app": "shop", "environment": "staging", "ref": "", "release": "R2", "commit": COMMIT,
        "outcome": "rolled_back",
        "hosts": {"web1": {"outcome": "rolled_back", "release": "R1", "commit": COMMIT, "current": "R1"}},
        "started_at": "2023-11-14T22:13:20Z", "finished_at": "2023-11-14T22:14:20Z", "by": "bob",
        "text": "shop R2 (01234567) rolled back on staging by bob: web1 rolled_back",
    }  # fmt: skip


def test_scrub_masks_the_longest_secret_first() -> None:
    assert scrub("url https://hooks/T1/abc token abc", ["abc", "https://hooks/T1/abc"]) == "url ******** token ********"


def test_a_receiver_that_is_not_listening_is_a_failed_result_not_an_exception() -> None:
    sent = post_json("http://127.0.0.1:9/api/annotations", {}, {}, 2, "Grafana")
    assert not sent.ok and sent.status is None
    assert sent.message.startswith("Grafana could not be reached: ") and "refused" in sent.message


def test_a_receiver_that_does_not_answer_in_time_is_named_with_the_time_waited() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:  # listens, never accepts nor answers
        sent = post_json(f"http://127.0.0.1:{server.getsockname()[1]}/hook", {}, {}, 0.5, "the webhook")
    assert not sent.ok and sent.message == "the webhook did not answer within 0.5 s"


def test_a_url_that_is_not_http_is_refused() -> None:
    sent = post_json("file:///etc/passwd", {}, {}, 2, "the webhook")
    assert not sent.ok and sent.message == "the webhook: its URL must start with http:// or https://"
