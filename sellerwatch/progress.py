"""A progress bar on stderr when it is a terminal (rich), nothing otherwise."""

from __future__ import annotations

from types import TracebackType

from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn


class Progress:
    """Counts records processed; ``update`` is cheap when disabled."""

    def __init__(self, enabled: bool, label: str = "records") -> None:
        """Show progress only when ``enabled`` (stderr is a TTY)."""
        self.enabled = enabled
        self.label = label
        self._bar: RichProgress | None = None
        self._task = 0

    def __enter__(self) -> Progress:
        """Start the bar."""
        if self.enabled:
            from rich.console import Console

            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.completed:,} " + self.label),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=None)
        return self

    def update(self, count: int) -> None:
        """Records processed so far."""
        if self._bar is not None:
            self._bar.update(self._task, completed=count)  # type: ignore[arg-type]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the bar."""
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
