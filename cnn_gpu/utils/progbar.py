"""Keras's per-epoch progress bar: ``12/47 ━━━━━━━━━━━━━━━━━━━━ 3s 2ms/step - accuracy: 0.9 - loss: 0.3``.

verbose 1 redraws one line in place on a terminal; elsewhere (a log file, CI) it prints only the
finished line, so logs stay one line per epoch. verbose 2 prints ``47/47 - 3s - 2ms/step - ...`` at
the end. The values shown are the caller's running means: the bar averages nothing itself.
"""

from __future__ import annotations

import sys
import time

BAR = "━"


def format_value(value):
    """Four decimals, or scientific notation for tiny values, as Keras prints them."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_step_time(seconds, unit_name):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def format_eta(seconds):
    if seconds > 3600:
        return f"{seconds // 3600:.0f}:{(seconds % 3600) // 60:02.0f}:{seconds % 60:02.0f}"
    if seconds > 60:
        return f"{seconds // 60:.0f}:{seconds % 60:02.0f}"
    return f"{seconds:.0f}s"


class Progbar:
    """A progress bar over ``target`` steps; ``update(current, values)`` after each one."""

    def __init__(self, target, width=20, verbose=1, interval=0.05, unit_name="step", stream=None):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stream = stream or sys.stdout
        self.dynamic = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._start = time.perf_counter()
        self._after_first_step = None
        self._last_draw = 0.0
        self._drawn_width = 0

    def _step_time(self, current, now):
        """Seconds per step, leaving out the first step (it pays for warm-up) once there are more."""
        if current == 1:
            self._after_first_step = now
        if self._after_first_step is not None and current > 1:
            return (now - self._after_first_step) / (current - 1)
        return (now - self._start) / max(current, 1)

    def update(self, current, values=None, finalize=None):
        """Show step ``current`` of ``target`` with ``values`` (name -> number, already averaged)."""
        finalize = current >= self.target if finalize is None else finalize
        now = time.perf_counter()
        per_step = self._step_time(current, now)
        metrics = "".join(f" - {name}: {format_value(v)}" for name, v in (values or {}).items())
        count = f"{current:{len(str(self.target))}d}/{self.target}"
        if self.verbose == 2 and finalize:
            elapsed = f"{now - self._start:.0f}s"
            self._write(f"{count} - {elapsed} - {format_step_time(per_step, self.unit_name)}{metrics}\n")
        elif self.verbose == 1 and (finalize or (self.dynamic and now - self._last_draw >= self.interval)):
            self._draw(count, current, now, per_step, metrics, finalize)

    def _draw(self, count, current, now, per_step, metrics, finalize):
        filled = int(self.width * current / self.target) if self.target else self.width
        seconds = f"{now - self._start:.0f}s" if finalize else format_eta(per_step * (self.target - current))
        line = f"{count} {BAR * self.width} {seconds} {format_step_time(per_step, self.unit_name)}{metrics}"
        padding = " " * max(self._drawn_width - len(line), 0)
        self._drawn_width = len(line)
        if self.dynamic:
            bar = f"\x1b[32m{BAR * filled}\x1b[0m\x1b[37m{BAR * (self.width - filled)}\x1b[0m"
            line = line.replace(BAR * self.width, bar, 1)
            self._write(f"\r{line}{padding}" + ("\n" if finalize else ""))
        else:
            self._write(f"{line}\n")
        self._last_draw = now

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()
