"""Streaming CSV downloads that a spreadsheet opens safely."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

from django.http import StreamingHttpResponse
from django.utils import timezone


def csv_cell(value: object) -> str:
    """A cell that a spreadsheet will not run as a formula (CSV injection)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def stream_csv(columns: Sequence[str], rows: Iterable[Sequence[object]], name: str) -> StreamingHttpResponse:
    """``rows`` is consumed lazily, so a large export never sits in memory."""
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(columns)
        for row in rows:
            yield writer.writerow([csv_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    return response
