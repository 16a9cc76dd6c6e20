"""Event text shown safely: control characters and bidi overrides as visible escapes, all other text as it is."""

from __future__ import annotations

from monitor.visible import visible


def test_controls_and_bidi_overrides_are_shown_as_their_code_points_and_other_text_is_kept() -> None:
    assert visible("d\x1b]0;owned\x07\x1b[2J\x9b1m\x7f\u202eabc\u2066") == (
        "d\\u001b]0;owned\\u0007\\u001b[2J\\u009b1m\\u007f\\u202eabc\\u2066"
    )
    assert visible("one\ttwo\nthree\r") == "one\\u0009two\\u000athree\\u000d"  # a field stays on its line
    assert visible("one\ttwo\nthree\r\x1b", lines=True) == "one\ttwo\nthree\\u000d\\u001b"  # a block keeps its lines
    for text in ("", "Zoë Ångström – 日本 … \\u001b is already text", "p-0001 signed in to acc-001"):
        assert visible(text) == text == visible(text, lines=True)
