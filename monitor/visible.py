"""Text from events made safe to show: control characters as visible escapes, never sent raw.

Ids, summaries and reasons come from events, which anyone with a platform's audit feed can word: an escape
sequence in a device id, printed raw, clears the analyst's screen, sets the window title or paints a fake
all-clear; a bidirectional override reorders what is read. The terminal commands show every such string
through `visible`, and the web console (service/console.py) through the same function, keeping lines.
"""

from __future__ import annotations

import re

# C0 and C1 control characters (ESC, BEL, CSI...), DEL, and the bidirectional overrides and isolates
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_ON_ONE_LINE = re.compile(f"[{_CONTROLS}\t\n]")  # tab and newline too: a field must not start another row
_KEEPING_LINES = re.compile(f"[{_CONTROLS}]")


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def visible(text: str, *, lines: bool = False) -> str:
    """`text` with each control character or bidi override written as `\\u001b` (its code point); `lines` keeps
    tab and newline, for text shown as a block rather than as one field of a line."""
    return (_KEEPING_LINES if lines else _ON_ONE_LINE).sub(_escape, text)
