"""Puts the programs the suite starts (gunicorn, a second app) on the suite's clock.

The session fixture ``suite_clock`` puts this folder first on ``PYTHONPATH`` and the clock's
offset in ``INVITES_TEST_CLOCK_OFFSET`` only while ``INVITES_TEST_NOW`` is set, so Python
imports this at the start of every child process: its clock (and its workers', which fork
from it) then travels by the same offset as the suite's, and so does its ``db_now``.
"""

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

_offset = os.environ.get("INVITES_TEST_CLOCK_OFFSET")
if _offset:
    import time_machine

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.clock import shift_database_clock

    sys.path.pop(0)
    _shift = timedelta(seconds=float(_offset))
    shift_database_clock(_shift)
    time_machine.travel(datetime.now(timezone.utc) + _shift, tick=True).start()
