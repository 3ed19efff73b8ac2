"""Count (and keep) the SQL statements an engine sends: query budgets and EXPLAIN tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class StatementLog:
    """Every statement sent through ``engine`` while the ``with`` block runs.

    Listens to ``before_cursor_execute``, so it sees exactly what goes to the
    driver: one entry per ``execute`` or ``executemany``, lazy loads and
    flushes included; connection set-up (SQLite's PRAGMAs) is not a statement.
    """

    engine: Engine = field(repr=False)
    statements: list[tuple[str, Any]] = field(default_factory=list, repr=False)

    def __enter__(self) -> StatementLog:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc_info) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append((statement, parameters))

    def __len__(self) -> int:
        return len(self.statements)

    def selects_from(self, table: str) -> list[tuple[str, Any]]:
        """The SELECTs whose FROM clause names ``table`` (first, or joined)."""
        return [
            (sql, params)
            for sql, params in self.statements
            if sql.lstrip().upper().startswith("SELECT") and (f"FROM {table}" in sql or f"JOIN {table} " in sql)
        ]

    def report(self) -> str:
        """The statements, numbered and shortened, for an assertion message."""
        lines = [f"{len(self)} statements:"]
        for number, (sql, _) in enumerate(self.statements, 1):
            lines.append(f"  {number}. {' '.join(sql.split())[:160]}")
        return "\n".join(lines)
