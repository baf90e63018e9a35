"""The fleet benchmark's arithmetic (tests/bench/fleet_speed.py): the per-host figures and ratios of
its table, and the hosts its fitted line reaches within a time budget, which the README quotes."""

from __future__ import annotations

import pytest

from tests.bench.deploy_speed import Run
from tests.bench.fleet_speed import EE, PLAYBOOK, Measured, Way, fit, hosts_within, rows


def test_a_row_gives_medians_per_host_figures_and_the_ratio_to_ansible_playbook_at_the_same_count():
    playbook = Measured(8, Way(PLAYBOOK), [Run(100.0, 20.0, 60.0), Run(120.0, 24.0, 70.0), Run(110.0, 22.0, 65.0)],
                        [5.0, 7.0, 6.0])  # fmt: skip
    ee = Measured(8, Way(EE), [Run(132.0, 30.0, 90.0), Run(143.0, 31.0, 95.0)], [4.0, 6.0])
    forks = Measured(8, Way(PLAYBOOK, 4), [Run(165.0, 22.0, 60.0)], [6.5])
    other_count = Measured(2, Way(PLAYBOOK), [Run(50.0, 8.0, 60.0)], [3.0])

    assert rows([other_count, playbook, ee, forks]) == [
        ["2", "ansible-playbook", "50.0", "25.0", "8.0", "4.00", "60", "1.00x", "3.0"],
        ["8", "ansible-playbook", "110.0", "13.8", "22.0", "2.75", "65", "1.00x", "6.0"],
        ["8", "EE (navigator)", "137.5", "17.2", "30.5", "3.81", "92", "1.25x", "5.0"],
        ["8", "ansible-playbook, forks 4", "165.0", "20.6", "22.0", "2.75", "60", "1.50x", "6.5"],
    ]


def test_the_fitted_line_gives_the_hosts_within_a_budget():
    line = fit([(2, 40.0), (4, 50.0), (8, 70.0)])
    assert line == pytest.approx((30.0, 5.0))
    assert hosts_within(5 * 60, line) == 54  # (300 - 30) / 5
    assert hosts_within(15 * 60, line) == 174
    assert hosts_within(20, line) == 0  # not even the fixed part fits


def test_a_line_that_does_not_grow_with_the_hosts_gives_no_extrapolation():
    with pytest.raises(ValueError, match=r"does not grow with the hosts \(slope -1.00 s/host\)"):
        hosts_within(300, fit([(2, 50.0), (4, 48.0)]))
