"""Output files that are whole or absent: written beside the target, renamed on success only.

A replay that fails half-way (a corrupt ``.gz``, a full disk, Ctrl-C) must not leave a verdict
file that looks complete, nor destroy what was there before (issue #8 item 6). Every regular-file
sink is a temporary file in the target's directory (so the rename is atomic, same file system),
moved over the target by :meth:`AtomicOutputs.commit`; anything else discards them. Targets that
are not regular files (``/dev/stdout``, ``/dev/full``, a FIFO) cannot be replaced and are written
directly, and ``-`` is standard output.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Protocol


class Interrupted(BaseException):
    """SIGINT or SIGTERM during a run that writes files: nothing is renamed into place.

    A ``BaseException``, as ``KeyboardInterrupt`` is: the signal handler raises it wherever the
    run happens to be, and the record decoder turns every ``Exception`` into a dead letter, so a
    SIGTERM that landed there was once booked as a rejected record while the replay read on.
    """


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM into :class:`Interrupted`, so the outputs are discarded."""
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread (an embedding test): keep the default
        pass
    try:
        yield
    except KeyboardInterrupt as exc:
        raise Interrupted from exc
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class BinarySink(Protocol):
    """What the replay writes to: bytes in, flushed at the end."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``."""

    def flush(self) -> None:
        """Push buffered bytes down."""


class NamedSink:
    """A sink whose write errors (a full disk) name the target, as one-line errors."""

    def __init__(self, handle: IO[bytes], path: str) -> None:
        """Wrap ``handle``, opened for ``path``."""
        self.handle = handle
        self.path = path

    def write(self, data: bytes, /) -> int:
        """Write ``data``, or raise :class:`OutputError` naming the target."""
        try:
            return self.handle.write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def flush(self) -> None:
        """Flush, or raise :class:`OutputError` naming the target."""
        try:
            self.handle.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc


class OutputError(Exception):
    """An output that cannot be opened or written, or that would clobber an input."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_replaceable(path: str) -> bool:
    """Whether ``path`` is absent or a regular file (so a rename may take its place)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def check_distinct(inputs: list[str], sinks: dict[str, str]) -> None:
    """Refuse a sink that is an input or another sink (same file, or same path when absent).

    Args:
        inputs: input paths (``-`` is standard input and never collides with a file).
        sinks: option name (``--out``) → path, only the options given.
    """
    seen: dict[str, str] = {}
    for option, path in sinks.items():
        key = "-" if path == "-" else os.path.realpath(path)
        if key in seen:
            where = "standard output" if path == "-" else path
            raise OutputError(f"{seen[key]} and {option} both write to {where}; give each its own")
        seen[key] = option
        if path == "-" or not os.path.exists(path) or not _is_replaceable(path):
            continue
        for name in inputs:
            if name == "-" or not os.path.exists(name):
                continue
            if os.path.samefile(path, name):
                raise OutputError(f"{option} {path} is the input {name}; refusing to overwrite it")


class AtomicOutputs:
    """A set of sinks committed together: all renamed into place, or none."""

    def __init__(self) -> None:
        """No sinks yet."""
        self._pending: list[tuple[IO[bytes], str, str]] = []  # (file, temp, target)
        self._direct: list[tuple[IO[bytes], str]] = []
        self._mode = 0o666 & ~_umask()

    def open(self, path: str) -> NamedSink:
        """A binary sink for ``path``: standard output, the device itself, or a temp file."""
        if path == "-":
            return NamedSink(sys.stdout.buffer, "standard output")
        try:
            if not _is_replaceable(path):
                handle = open(path, "wb")  # noqa: SIM115 - closed by commit/discard
                self._direct.append((handle, path))
                return NamedSink(handle, path)
            target = Path(os.path.realpath(path))  # through a symlink, not over it
            fd, temp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".partial", dir=target.parent
            )
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        handle = os.fdopen(fd, "wb")
        self._pending.append((handle, temp, str(target)))
        return NamedSink(handle, path)

    def commit(self) -> None:
        """Flush, sync and rename every sink into place; on any failure, discard them all."""
        try:
            for handle, path in self._direct:
                _close(handle, path)
            for handle, temp, path in self._pending:
                try:
                    handle.flush()
                    os.fsync(handle.fileno())
                    os.chmod(temp, self._mode)
                except OSError as exc:
                    raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
                _close(handle, path)
            for _, temp, path in self._pending:
                try:
                    os.replace(temp, path)
                except OSError as exc:
                    raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        except BaseException:
            self.discard()
            raise
        self._pending.clear()
        self._direct.clear()

    def discard(self) -> None:
        """Close and delete every temporary file; targets keep their old content."""
        for handle, _ in self._direct:
            _close_quietly(handle)
        for handle, temp, _ in self._pending:
            _close_quietly(handle)
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
        self._pending.clear()
        self._direct.clear()

    def __enter__(self) -> AtomicOutputs:
        """Sinks opened inside are discarded unless :meth:`commit` ran."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Discard what was not committed."""
        self.discard()


def _close(handle: IO[bytes], path: str) -> None:
    try:
        handle.close()
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _close_quietly(handle: IO[bytes]) -> None:
    try:
        handle.close()
    except OSError:
        pass


@contextmanager
def replaced_on_success(path: str) -> Iterator[str]:
    """The path to write instead of ``path``: a temp file beside it, renamed when the block ends
    without an exception, deleted otherwise. ``-`` and non-regular targets are passed through.

    For writers that open the file themselves (the generator's sinks); the temp file keeps the
    target's suffix, so ``.gz`` still means gzip.
    """
    if path == "-" or not _is_replaceable(path):
        yield path
        return
    target = Path(os.path.realpath(path))  # through a symlink, not over it
    try:
        fd, temp = tempfile.mkstemp(
            prefix=f".{target.name}.partial.",
            suffix="".join(target.suffixes[-1:]),
            dir=target.parent,
        )
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    try:
        yield temp
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
