"""misspelt_settings: a deploy_* variable close to a setting of deployctl is named with the setting it resembles."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.deployctl.core.plugins.filter.misspelt_settings import FilterModule, misspelt_settings

ROLE = str(Path(__file__).resolve().parents[2] / "roles" / "deploy")


def test_a_setting_misspelt_is_named_with_the_one_it_resembles() -> None:
    names = ["deploy_helth_url", "deploy_rollback_migrate_dwn", "deploy_keep_release", "deploy_ref"]

    assert misspelt_settings(names, ROLE) == [
        f"{name} is no setting of deployctl: did you mean {meant}? (as it is, it would be ignored and the default "
        "used; a variable of your own needs a name further from deployctl's)"
        for name, meant in [
            ("deploy_helth_url", "deploy_health_url"),
            ("deploy_keep_release", "deploy_keep_releases"),
            ("deploy_rollback_migrate_dwn", "deploy_rollback_migrate_down"),
        ]
    ]


def test_settings_of_every_entry_point_role_vars_and_the_playbooks_pass() -> None:
    names = [
        "deploy_to",
        "deploy_rollback_to",  # entry point rollback
        "deploy_db_restore_force",  # entry point db_restore
        "deploy_hook_environment",  # vars/main.yml
        "deploy_serial",
    ]

    assert misspelt_settings(names, ROLE, ["deploy_serial"]) == []
    assert misspelt_settings(["deploy_seral"], ROLE, ["deploy_serial"])[0].startswith(
        "deploy_seral is no setting of deployctl: did you mean deploy_serial?"
    )


def test_variables_of_ones_own_and_those_the_role_checks_itself_pass() -> None:
    # deploy_user is a common variable of an inventory's own (Capistrano's name): far from deploy_app_user.
    names = ["deploy_user", "deploy_branch_name", "deploy_after_swtich_tasks", "deploy_local_aftr", "app_port"]

    assert misspelt_settings(names, ROLE) == []


def test_misspelt_settings_is_the_collections_filter() -> None:
    assert FilterModule().filters() == {"misspelt_settings": misspelt_settings}
