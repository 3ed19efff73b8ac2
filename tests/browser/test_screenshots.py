"""The README's screenshots can be taken again: tools/screenshots.py runs from a clean checkout."""

from __future__ import annotations

import os
import struct

import pytest

from tools import screenshots

pytestmark = [pytest.mark.browser, pytest.mark.sqlite]


def png_size(path) -> tuple[int, int]:
    with open(path, "rb") as image:
        header = image.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_the_screenshot_script_photographs_a_seeded_instance(tmp_path, browser):
    before = dict(os.environ)
    shots = screenshots.take(tmp_path, browser)
    assert [path.name for path in shots] == [
        "dashboard.png",
        "invite-page.png",
        "phone-members.png",
        "phone-dashboard.png",
    ]
    width, height = png_size(tmp_path / "dashboard.png")
    assert width == 1280 and height > 800  # the whole page, every card
    assert png_size(tmp_path / "invite-page.png") == (1280, 800)
    assert png_size(tmp_path / "phone-members.png") == (390, 844)
    assert dict(os.environ) == before  # the script put the environment back
