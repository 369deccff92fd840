"""Issue 18 item 7: nested progress bars leave no cursor-up escapes (ESC[A) in a redirected log."""

from __future__ import annotations

import io

import populace_lm.progress as progress
from populace_lm.progress import progress_bar


class _Log(io.StringIO):
    def isatty(self) -> bool:
        return False


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _nested(stream) -> str:
    progress.set_progress(True)
    outer = progress_bar(total=3, desc="constructions", file=stream, mininterval=0)
    for _ in range(3):
        inner = progress_bar(total=4, desc="questions", file=stream, mininterval=0)
        for _ in range(4):
            inner.update(1)
        inner.close()
        outer.update(1)
    outer.close()
    return stream.getvalue()


def test_nested_bars_in_a_redirected_log_have_no_cursor_moves():
    text = _nested(_Log())
    assert "\x1b[A" not in text
    assert "constructions" in text  # the outermost bar still reports
    assert "questions" not in text  # inner bars stay silent in a log (they would need cursor moves)


def test_nested_bars_on_a_terminal_still_show():
    text = _nested(_Terminal())
    assert "questions" in text and "constructions" in text
