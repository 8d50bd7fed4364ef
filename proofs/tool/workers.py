"""Tasks in worker processes, stopped cleanly by Ctrl-C, results put back in order.

Workers ignore SIGINT: a Ctrl-C (which a terminal sends to the whole
process group) is the parent's to handle, so no worker prints a traceback.
The parent then terminates its workers; each worker first kills the
processes it started itself (``adopt``), so no solver is left running.
What finished before the interrupt is handed to the caller in
``Stopped``, for a partial report.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Generator, Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Generic, TypeVar

FORK = multiprocessing.get_context("fork")
TICK = 0.25  # seconds between two looks at the running tasks (a live progress line)
T = TypeVar("T")
R = TypeVar("R")

_adopted: set[BaseProcess] = set()  # in a worker: the processes it started and must not leave behind


class Stopped(Exception, Generic[R]):
    """Ctrl-C during a run: ``done`` holds (index, result) of every task that finished before it."""

    def __init__(self, done: list[tuple[int, R]]) -> None:
        super().__init__(f"{len(done)} tasks finished")
        self.done = done


def start_adopted(child: BaseProcess) -> None:
    """Start a process this worker owns: killed with the worker if the run is stopped.  SIGTERM
    is held off from the fork until the child is adopted, so that a stop falling in between
    cannot leave it running unowned (the child unblocks it: ``unblock_stop``)."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        child.start()
        _adopted.add(child)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def unblock_stop() -> None:
    """In a child started by start_adopted: take SIGTERM back, as its parent had it."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def release(child: BaseProcess) -> None:
    _adopted.discard(child)


def _stop_worker(signum: int, frame: FrameType | None) -> None:
    for child in list(_adopted):
        child.kill()
    os._exit(1)


_results: Any = None  # in a worker of run_groups: the queue each task's result goes back on


def _start_worker(results: Any = None) -> None:
    global _results
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_worker)
    _results = results


def _run_group(fn: Callable[[T], R], group: list[tuple[int, T]]) -> None:
    for i, item in group:
        _results.put((i, fn(item)))


def run_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    jobs: int,
    *,
    failed: Callable[[BaseException], R],
    tick: Callable[[int], None] | None = None,
) -> Generator[tuple[int, R], None, None]:
    """(index, fn(item)) as each finishes, in ``jobs`` worker processes; a task whose worker broke
    answers ``failed(exception)``.  Raises Stopped on Ctrl-C, after the workers are gone."""
    if not items:
        return
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=FORK, initializer=_start_worker)
    done: list[tuple[int, R]] = []
    try:
        futures: dict[Future[R], int] = {pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=TICK, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=futures.__getitem__):
                try:
                    result = future.result()
                except Exception as why:  # the worker died or could not send its answer back
                    result = failed(why)
                done.append((futures[future], result))
                yield futures[future], result
            if tick:
                tick(sum(f.running() for f in pending))
    except KeyboardInterrupt:
        _terminate(pool)
        raise Stopped(done) from None
    except GeneratorExit:  # the caller wants no more results: stop the tasks still running
        _terminate(pool)
        raise
    pool.shutdown()


def run_groups(
    fn: Callable[[T], R],
    items: Sequence[T],
    jobs: int,
    group: Callable[[T], Hashable],
    *,
    failed: Callable[[BaseException], R],
    tick: Callable[[int], None] | None = None,
    cost: Callable[[T], float] | None = None,
) -> Generator[tuple[int, R], None, None]:
    """run_tasks, but the items of one ``group`` run one after another in the
    same worker (what a worker made for the first, the rest reuse); each
    result comes back as soon as it is in.  The groups start in the order
    of their first items (a caller printing in item order can start early),
    or, given each item's expected ``cost``, costliest group first (the
    longest first, the shortest fill in: the workers end closer together).
    The items of a group whose worker broke answer ``failed(exception)``."""
    if not items:
        return
    groups: dict[Hashable, list[tuple[int, T]]] = {}
    for i, item in enumerate(items):
        groups.setdefault(group(item), []).append((i, item))
    ordered = list(groups.values())
    if cost is not None:
        ordered.sort(key=lambda g: -sum(cost(item) for _, item in g))
    results = FORK.Queue()
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(ordered)), mp_context=FORK, initializer=_start_worker, initargs=(results,)
    )
    done: list[tuple[int, R]] = []
    answered: set[int] = set()
    try:
        futures = {pool.submit(_run_group, fn, g): g for g in ordered}
        while len(answered) < len(items):
            try:
                i, result = results.get(timeout=TICK)
            except queue.Empty:
                for future in [f for f in futures if f.done()]:
                    why = future.exception()
                    if why is not None:  # the worker died: what it had not answered fails
                        for i, _ in futures[future]:
                            if i not in answered:
                                results.put((i, failed(why)))
                    del futures[future]
            else:
                answered.add(i)
                done.append((i, result))
                yield i, result
            if tick:
                tick(sum(f.running() for f in futures))
    except KeyboardInterrupt:
        _terminate(pool)
        raise Stopped(done) from None
    except GeneratorExit:
        _terminate(pool)
        raise
    pool.shutdown()


def _terminate(pool: ProcessPoolExecutor) -> None:
    # The executor has no public way to stop running tasks; its worker processes do.
    processes: dict[int, Any] = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


class InOrder(Generic[R]):
    """Results that arrive in any order, handed on in index order as soon as every earlier one is in."""

    def __init__(self) -> None:
        self.waiting: dict[int, R] = {}
        self.next = 0

    def add(self, index: int, result: R) -> list[tuple[int, R]]:
        self.waiting[index] = result
        ready = []
        while self.next in self.waiting:
            ready.append((self.next, self.waiting.pop(self.next)))
            self.next += 1
        return ready
