"""Checkpoints every N epochs, a clean stop on SIGINT/SIGTERM, and resuming from the last checkpoint."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from mmc_bench.config import resume_mode
from mmc_bench.errors import UserError
from mmc_bench.run.storage import write_atomic

CHECKPOINT_FILE = "checkpoint.pt"
console = logging.getLogger("mmc_bench")


class Interrupted(Exception):
    """The run was asked to stop (SIGINT/SIGTERM); its state at the end of the last epoch is saved."""

    def __init__(self, signal_name: str, epoch: int):
        self.signal_name = signal_name
        self.epoch = epoch
        super().__init__(
            f"stopped by {signal_name} after epoch {epoch}; the same command continues from there "
            "(resume=false starts over)"
        )


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag that a training loop checks between epochs (a second signal kills)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            # A signal the process was started ignoring stays ignored (a shell's background job ignores
            # SIGINT): training must not stop on what the rest of the run would not stop on.
            if signal.getsignal(sig) == signal.SIG_IGN:
                continue
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave the default behaviour
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self.signal_name = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signal_name is not None


class Checkpointer:
    """Saves a method's training state atomically every ``every`` epochs and on a stop request, and loads it
    back under ``resume`` (auto, true, false; see RunConfig.resume). ``identity`` (the run's settings hash) is
    saved with the state, so that a checkpoint is only continued by a run of the same settings."""

    def __init__(
        self,
        run_dir: Path | None,
        every: int = 0,
        resume: str | bool = False,
        stop: StopRequest | None = None,
        identity: str | None = None,
    ):
        self.path = None if run_dir is None else run_dir / CHECKPOINT_FILE
        self.every = every
        self.resume = resume_mode(resume)
        self.stop = stop or StopRequest()
        self.identity = identity

    def load(self) -> dict[str, Any] | None:
        """The saved state to continue from, else None (a fresh start)."""
        if self.resume == "false" or self.path is None or not self.path.is_file():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=False)
        except Exception as exc:  # noqa: BLE001 - truncated, empty or foreign bytes all end the same way
            raise UserError(
                f"{CHECKPOINT_FILE} in {self.path.parent} is unreadable ({type(exc).__name__}); delete it "
                "(the run then starts over) or run with resume=false"
            ) from None
        recorded = saved.get("identity") if isinstance(saved, dict) else None
        # resume=true also takes a checkpoint of an mmc_bench that saved no identity (the user vouches for it).
        if (
            self.identity is not None
            and recorded != self.identity
            and not (self.resume == "true" and recorded is None)
        ):
            if self.resume == "true":
                raise UserError(
                    f"{self.path} was saved by a run with other settings, so it cannot be continued; run with "
                    "resume=false to start over (the checkpoint is then replaced)"
                )
            console.warning(
                "%s was saved by a run with other settings (or an older mmc_bench): starting over, and "
                "replacing it at the next checkpoint",
                self.path,
            )
            return None
        console.info("continuing from %s (resume=%s; resume=false starts over)", self.path, self.resume)
        return saved

    def end_of_epoch(self, epoch: int, state: Any) -> None:
        """Save when due or asked to stop; then raise Interrupted if a stop was asked for.

        ``state`` is a callable returning the state dict, so nothing is gathered on epochs that save nothing.
        """
        due = self.every > 0 and (epoch + 1) % self.every == 0
        if self.path is not None and (due or self.stop.requested):
            self._save(state())
        if self.stop.requested:
            raise Interrupted(self.stop.signal_name or "signal", epoch)

    def _save(self, state: dict[str, Any]) -> None:
        if self.identity is not None:
            state = {**state, "identity": self.identity}
        write_atomic(self.path, lambda handle: torch.save(state, handle))

    def clear(self) -> None:
        """A finished run needs no checkpoint."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
