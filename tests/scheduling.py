"""The order of the collection for `--dist worksteal`: the tests that mostly wait start first, spread over workers.

Some tests spend a minute or two on real servers' clocks (`for:` durations, group waits, evaluation cycles) with
little CPU: marked `waits(seconds)`. Left where they fall in the collection, they start when their worker reaches
them, and one that starts late keeps its worker busy after the others are done (a run of 7.5 minutes ended with two
minutes of such tests alone); a module of them split over several workers ran its servers on each.

xdist's worksteal scheduler hands each of the N workers a contiguous share of the collection, worker k
len(pending) // (N - k) items, and moves work only from the tail of a share to an idle worker. So a group placed at
the head of a share runs first, all of it on that worker. Groups go, longest first, to the share with the least
waiting so far, among all shares but two: two workers start on work that keeps the cores busy.
"""

from __future__ import annotations

FREE = 2  # shares that start on ordinary tests


def order(waits: list[tuple[str, float] | None], workers: int) -> list[int]:
    """The indices of the collection in the order to run it: `waits[i]` is (group, seconds) for a test that waits,
    None for any other. Unchanged without enough workers to spare any."""
    if workers <= FREE:
        return list(range(len(waits)))
    groups: dict[str, list[int]] = {}
    seconds: dict[str, float] = {}
    rest = []
    for index, wait in enumerate(waits):
        if wait is None:
            rest.append(index)
        else:
            groups.setdefault(wait[0], []).append(index)
            seconds[wait[0]] = max(seconds.get(wait[0], 0.0), wait[1])
    shares: list[list[int]] = [[] for _ in range(workers)]
    waiting = [0.0] * (workers - FREE)
    for group in sorted(groups, key=lambda g: (-seconds[g], g)):
        share = waiting.index(min(waiting))
        shares[share] += groups[group]
        waiting[share] += seconds[group]
    remaining = len(waits)
    for served, share in enumerate(shares):  # what worksteal hands worker `served`, topped up with the rest
        take = max(0, remaining // (workers - served) - len(share))
        share += rest[:take]
        del rest[:take]
        remaining -= len(share)
    return [index for share in shares for index in share] + rest
