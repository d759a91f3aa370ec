"""tests/scheduling.py: the tests that wait start first, each group whole at the head of one worker's share."""

from __future__ import annotations

import scheduling


def _shares(count: int, workers: int) -> list[int]:
    """The sizes of the contiguous shares xdist's worksteal hands out at the start."""
    sizes, remaining = [], count
    for served in range(workers):
        sizes.append(remaining // (workers - served))
        remaining -= sizes[-1]
    return sizes


def _split(indices: list[int], workers: int) -> list[list[int]]:
    out, at = [], 0
    for size in _shares(len(indices), workers):
        out.append(indices[at:at + size])
        at += size
    return out


def test_each_group_starts_a_share_and_stays_whole_longest_first_to_the_least_waiting_share() -> None:
    waits: list[tuple[str, float] | None] = [None] * 100
    waits[10:14] = [("live", 110.0)] * 4  # a module's tests: one group
    waits[50] = ("cost", 80.0)
    waits[51] = ("side", 75.0)
    waits[70:72] = [("fleet", 70.0)] * 2
    waits[90] = ("small", 20.0)
    order = scheduling.order(waits, 4)
    assert sorted(order) == list(range(100))
    shares = _split(order, 4)
    assert shares[0][:6] == [10, 11, 12, 13, 70, 71] and 90 not in shares[0]  # 110, then 70 (110 < 80 + 75)
    assert shares[1][:3] == [50, 51, 90]  # 80, 75, then 20 (155 < 180)
    assert all(waits[i] is None for share in shares[2:] for i in share)  # two workers start on ordinary tests
    rest = [i for i in order if waits[i] is None]
    assert rest == sorted(rest)  # everything else in collection order


def test_without_workers_to_spare_the_collection_is_left_as_it_is() -> None:
    waits: list[tuple[str, float] | None] = [None, ("live", 110.0), None]
    assert scheduling.order(waits, 0) == scheduling.order(waits, 2) == [0, 1, 2]
    assert scheduling.order(waits, 3)[0] == 1
