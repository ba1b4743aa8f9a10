from __future__ import annotations

from kaudit.roles import crash_points_for


def test_fault_injection_names_points_per_node() -> None:
    setting = "cp-1:after-backup, cp-2:after-write,cp-1:after-write"
    assert crash_points_for("cp-1", setting) == {"after-backup", "after-write"}
    assert crash_points_for("cp-2", setting) == {"after-write"}
    assert crash_points_for("cp-3", setting) == frozenset()
    assert crash_points_for("cp-1", "") == frozenset()


def test_a_hold_point_is_named_like_any_other() -> None:
    setting = "cp-1:hold-after-write,cp-2:after-write"
    assert crash_points_for("cp-1", setting) == {"hold-after-write"}
