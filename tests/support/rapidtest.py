"""Helpers for the rapid-test tests: a service over a kiosk and a simulated reader."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from drivers.reader.base import TestReader
from kiosk.domain.rapidtest_methods import MethodBook
from kiosk.services.kiosk import Kiosk
from kiosk.services.rapidtest import RapidTestService, RapidTestSettings

SCHEMAS = Path(__file__).resolve().parents[2] / "wire" / "schemas"
PRODUCER = {"producer_name": "张秀英", "phone": "13812345678"}  # request()'s issuer


class ShiftClock:
    """The kiosk's clock moved by ``shift`` (to age results without waiting)."""

    def __init__(self, base: Callable[[], datetime]) -> None:
        self.base = base
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return self.base() + self.shift


def service(kiosk: Kiosk, reader: TestReader | None, **kwargs: Any) -> RapidTestService:
    cat = kiosk.catalogue
    methods = MethodBook.load(input_classes=cat.inputs, categories=cat.categories)
    kwargs.setdefault("clock", kiosk.clock)
    return RapidTestService(
        store=kiosk.store,
        outbox=kiosk.outbox,
        alarms=kiosk.alarms,
        holds=kiosk.holds,
        catalogue=cat,
        methods=methods,
        reader=reader,
        settings=kwargs.pop("settings", RapidTestSettings(progress_tick_s=0.1)),
        **kwargs,
    )


def events(kiosk: Kiosk) -> list[dict]:
    """Every outbox event body, checked against its JSON Schema."""
    rows = kiosk.store.conn.execute("SELECT body FROM outbox ORDER BY seq").fetchall()
    bodies = [json.loads(r[0]) for r in rows]
    for body in bodies:
        raw = json.loads((SCHEMAS / f"{body['schema']}.json").read_text("utf-8"))
        Draft202012Validator(raw).validate(body["data"])
    return bodies
