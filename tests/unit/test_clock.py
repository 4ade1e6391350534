"""Ids sort by time: the bound export-movements --since queries from (no database)."""

from __future__ import annotations

from ulid import ULID

from chalicelib import clock


def test_first_id_at_is_the_smallest_id_of_its_millisecond():
    moment = 1_796_000_000.123
    for _ in range(50):  # ids of that millisecond, with their random part
        made = str(ULID.from_timestamp(moment))
        assert clock.first_id_at(moment) <= made < clock.first_id_at(moment + 0.001)
    assert clock.first_id_at(moment - 0.001) < clock.first_id_at(moment)
    assert clock.first_id_at(0) == "0" * 26
