# gompx-only: Go programs as worker processes (no stdlib counterpart).
from collections.abc import Iterable, Iterator, Mapping
from os import PathLike
from types import TracebackType
from typing import Any, Literal

from typing_extensions import Self

__all__ = ["GoPool", "GoError", "WorkerExitedError"]

class GoError(Exception):
    message: str
    function: str | None
    kind: Literal["error", "panic", "encode"] | str
    stack: str
    index: int | None
    def __init__(
        self, message: str, function: str | None = None, kind: str = "error", stack: str = "", index: int | None = None
    ) -> None: ...

class WorkerExitedError(RuntimeError):
    pid: int | None
    exitcode: int | None
    def __init__(self, message: str, pid: int | None = None, exitcode: int | None = None) -> None: ...

class GoPool:
    def __init__(
        self,
        binary: str | PathLike[str],
        processes: int | None = None,
        args: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | PathLike[str] | None = None,
        start_timeout: float = 30.0,
    ) -> None: ...
    @property
    def functions(self) -> tuple[str, ...]: ...
    @property
    def pids(self) -> list[int]: ...
    def call(self, name: str, *args: Any) -> Any: ...
    def apply(self, name: str, args: Iterable[Any] = ()) -> Any: ...
    def map(self, name: str, iterable: Iterable[Any], chunksize: int | None = None) -> list[Any]: ...
    def starmap(self, name: str, iterable: Iterable[Iterable[Any]], chunksize: int | None = None) -> list[Any]: ...
    def imap(self, name: str, iterable: Iterable[Any], chunksize: int = 1) -> Iterator[Any]: ...
    def close(self) -> None: ...
    def terminate(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc_value: BaseException | None, exc_tb: TracebackType | None
    ) -> None: ...
