"""The web service's database threads: answers, errors and cancellations reach the
right request, jobs run side by side up to the pool's size, and close stops them."""

from __future__ import annotations

import asyncio
import threading

import pytest

from station.web.workers import Workers


def test_results_and_errors_reach_the_awaiting_request() -> None:
    workers = Workers(2)

    def fail() -> int:
        raise ValueError("no such certificate")

    async def main() -> None:
        assert await workers.run(lambda: threading.current_thread().name) in ("db-0", "db-1")
        with pytest.raises(ValueError, match="no such certificate"):
            await workers.run(fail)
        assert await asyncio.gather(*(workers.run(lambda n=n: n * n) for n in range(20))) == [
            n * n for n in range(20)
        ]

    try:
        asyncio.run(main())
    finally:
        workers.close()


def test_jobs_run_side_by_side_up_to_the_size() -> None:
    workers = Workers(3)
    both = threading.Barrier(3, timeout=5)  # breaks (raises) unless all three run at once

    async def main() -> list[int]:
        return list(await asyncio.gather(*(workers.run(both.wait) for _ in range(3))))

    try:
        assert sorted(asyncio.run(main())) == [0, 1, 2]
    finally:
        workers.close()


def test_a_cancelled_request_leaves_the_threads_working() -> None:
    workers = Workers(1)
    release = threading.Event()
    done: list[str] = []

    def slow() -> None:
        release.wait(5)
        done.append("slow")

    async def main() -> str:
        job = asyncio.ensure_future(workers.run(slow))
        await asyncio.sleep(0.05)
        job.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await job
        return await workers.run(lambda: "next")

    try:
        assert asyncio.run(main()) == "next"
        assert done == ["slow"]  # the work ran to its end; only its answer was dropped
    finally:
        workers.close()


def test_close_stops_every_thread() -> None:
    workers = Workers(4, name="close-test")
    workers.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("close-test-")]
