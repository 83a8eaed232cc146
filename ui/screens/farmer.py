"""The farmer's flow: identify → product → quantity → what was used → basis → confirm → print."""

from __future__ import annotations

import logging
import time
from collections import Counter
from decimal import Decimal
from functools import partial

import pygame

from drivers.indicators import BuzzerPattern, LightState
from drivers.printer.render import render_label
from drivers.scale import Weight
from kiosk.domain.catalogue import Product
from kiosk.domain.model import Basis, CertificateRequest, Style, format_quantity
from kiosk.domain.validation import EAR_TAGGED, InputError, parse_quantity, validate_livestock
from kiosk.services.issuance import IssuanceRefused
from kiosk.services.producers import Producer
from kiosk.services.staff import LockedOut
from ui import layout
from ui.pictures import CATEGORY_PICTURES, product_picture
from ui.screens.base import Screen
from ui.screens.common import ChoiceScreen, KeypadScreen, MessageScreen, Option, check_pin
from ui.widgets import Alert, Button, Icon, Label, Picture, Progress, Widget

log = logging.getLogger(__name__)

PLANT_CATEGORIES = {"vegetable", "fruit", "tea"}
#: After the labels are printed the session ends by itself after this many seconds.
DONE_COUNTDOWN_S = 20


def refusal(app, error: Exception) -> None:
    """Show why the kiosk will not go on, in the service's plain words, and say them."""
    if isinstance(error, IssuanceRefused):
        text = error.text("en" if app.i18n.is_en else "zh-CN")
        app.push(MessageScreen(app, "refused_title", text, speak=True))
    elif isinstance(error, InputError):
        app.push(MessageScreen(app, "problem_title", error.message, style="warn", speak=True))
    else:
        raise error


def print_expected_s(app, copies: int) -> float:
    """How long printing ``copies`` labels normally takes on this kiosk's link.

    A raster label is ~60 KB: 52.9 s at 9600 baud; USB, TCP and the simulator take
    seconds. Past 1.5x this the job is reported overdue (an alarm), not waited on.
    """
    transport = app.kiosk.config.printer.transport
    per_copy = 15.0
    if transport.kind == "serial":
        per_copy = max(per_copy, 600_000 / max(1, transport.baudrate) + 10)
    return 10.0 + per_copy * copies


def identified(app, producer: Producer) -> None:
    app.session.producer = producer
    app.stack = app.stack[:1]
    app.push(WelcomeScreen(app))


def identify_by_scan(app, code: str) -> None:
    producer = app.producers.by_scan(code)
    if producer is None:
        app.push(MessageScreen(app, "refused_title", app.i18n.t("unknown_card"), icon="card"))
    else:
        identified(app, producer)


def locked_text(app, error: LockedOut) -> str:
    minutes = max(1, round((error.until - app.kiosk.clock()).total_seconds() / 60))
    return app.i18n.t("locked", minutes=minutes)


class HomeScreen(Screen):
    """Scan a card here; or phone and PIN; or register; staff and technician doors."""

    show_back = show_home = False
    prompt = "welcome"

    def title(self) -> str:
        """A simulated kiosk says so where every farmer starts (and on every label)."""
        title = self.t(self.title_key)
        if self.app.kiosk.config.device.simulation:
            return self.t("demo_title", title=title)
        return title

    def body(self, area: pygame.Rect) -> list[Widget]:
        m, app = self.app.metrics, self.app
        main, foot = layout.split_v(area, [1.0, m.target], m.gap)
        left, right = layout.split_h(main, [1.0, 1.0], m.gap * 2)
        pic, words = layout.split_v(left, [0.55, 0.45], m.gap)
        buttons = layout.split_v(right, [1.0, 1.0], m.gap)
        feet = layout.split_h(foot, [1.0, 1.0, 1.0, 1.0], m.gap)
        sound = "sound_on" if app.audio.enabled else "sound_off"
        return [
            Icon("scan_picture", pic.inflate(-m.gap, -m.gap), "card"),
            Label("scan_prompt", words, self.t("home_prompt"), m.big_px),
            Button(
                "phone", buttons[0], self.t("start_phone"), self.phone, "phone", max_px=m.big_px
            ),
            Button(
                "register",
                buttons[1],
                self.t("register"),
                self.register,
                "person",
                "plain",
                max_px=m.big_px,
            ),
            Button("language", feet[0], self.t("language"), self.language, "globe", "plain"),
            Button(
                "sound",
                feet[1],
                self.t(sound),
                self.sound,
                "speaker" if app.audio.enabled else "mute",
                "plain",
            ),
            Button("staff", feet[2], self.t("staff"), self.staff, "flask", "plain"),
            Button("technician", feet[3], self.t("technician"), self.technician, "gear", "plain"),
        ]

    def on_scan(self, code: str) -> bool:
        identify_by_scan(self.app, code)
        return True

    def phone(self) -> None:
        self.app.push(PhoneScreen(self.app))

    def register(self) -> None:
        from ui.screens.register import NameScreen

        self.app.push(NameScreen(self.app))

    def language(self) -> None:
        self.app.i18n.toggle()
        self.refresh()

    def sound(self) -> None:
        self.app.audio.enabled = not self.app.audio.enabled
        self.refresh()

    def staff(self) -> None:
        from ui.screens.staff import open_staff

        open_staff(self.app)

    def technician(self) -> None:
        from ui.screens.technician import open_technician

        open_technician(self.app)


class PhoneScreen(KeypadScreen):
    def __init__(self, app) -> None:
        super().__init__(app, "phone_title", self.entered, max_len=11)

    def entered(self, phone: str) -> str | None:
        if not self.app.producers.by_phone(phone):
            return self.t("unknown_phone")
        self.app.push(
            KeypadScreen(
                self.app,
                "pin_title",
                lambda pin: self.pin(phone, pin),
                mask=True,
                max_len=8,
                prompt=None,
            )
        )
        return None

    def pin(self, phone: str, pin: str) -> str | None:
        def verdict(outcome) -> str | None:
            if isinstance(outcome, LockedOut):
                return locked_text(self.app, outcome)
            if outcome is None:
                left = self.app.producers.limiter.remaining(f"producer-phone:{phone}")
                return self.t("wrong_pin", left=left)
            identified(self.app, outcome)
            return None

        pad = self.app.top
        assert isinstance(pad, KeypadScreen)  # the PIN pad pushed by ``entered``
        return check_pin(
            self.app, pad, lambda services: services.producers.login(phone, pin), verdict
        )

    def on_scan(self, code: str) -> bool:
        identify_by_scan(self.app, code)
        return True


def when_printer_ready(app, screen: WelcomeScreen, then) -> None:
    """Ask the printer (on its worker: the loop never waits) before a farmer's flow
    starts; go on with ``then()`` when it can print, else say why. ``issue`` asks again
    before a number is spent."""
    if getattr(screen, "asking_printer", False):
        return  # a second tap while the printer is asked

    def done(kind: str, data: dict) -> None:
        screen.asking_printer = False
        if app.top is not screen:
            return  # the farmer left (or the kiosk went out of service) meanwhile
        if kind == "job_done" and data.get("result") is None:
            then()
        elif kind == "job_done":
            refusal(app, data["result"])
        else:
            log.error("printer status before the flow failed: %s", data.get("error"))
            app.push(MessageScreen(app, "refused_title", app.i18n.t("failed_plain")))

    screen.asking_printer = True
    app.run_job(
        None,
        "printer",
        lambda services, control: services.issuance.printer_ready(),
        label=PRINTER_READY_JOB,
        expected_s=10.0,
        on_finish=done,
    )


#: The job label of the printer check at the start of a farmer's flow.
PRINTER_READY_JOB = "ready"


class WelcomeScreen(Screen):
    """After identification: repeat the last certificate in one tap, or start a new one
    (either only once the printer said it can print)."""

    show_back = False
    asking_printer = False

    def title(self) -> str:
        return self.t("hello", name=self.app.session.who().name)

    def last(self):
        """The last 样式一 certificate (a buyer's 样式二 rests on scans made then)."""
        key = self.app.session.who().issuer.producer_key
        found = self.app.kiosk.issuance.list(producer_key=key, limit=5)
        found = [c for c in found if c.style is Style.PRODUCER]
        return found[0] if found else None

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        last = self.last()
        main, foot = layout.split_v(area, [1.0, m.target], m.gap * 2)
        rows = layout.split_v(main, [1.0, 1.0] if last else [1.0], m.gap * 2)
        out: list[Widget] = []
        if last is not None:
            product = self.app.kiosk.catalogue.products.get(last.product_code)
            name = self.app.i18n.name(last.product_name, product.name_en if product else "")
            text = self.t("repeat_last", product=name, quantity=last.quantity_text)
            icon = product_picture(product) if product else "leaf"
            out.append(Button("repeat", rows[0], text, self.repeat, icon, "ok", max_px=m.big_px))
        out.append(
            Button("new", rows[-1], self.t("new_certificate"), self.new, "plus", max_px=m.big_px)
        )
        out.append(Button("buyer", foot, self.t("buyer_certificate"), self.buyer, "list", "plain"))
        return out

    def buyer(self) -> None:
        """样式二: a buyer re-issues for produce bought with certificates (scanned next)."""
        when_printer_ready(self.app, self, self._buyer)

    def _buyer(self) -> None:
        session = self.app.session
        session.style, session.sources, session.source_numbers = Style.BUYER, [], []
        self.app.push(product_screen(self.app, choose_product))

    def repeat(self) -> None:
        when_printer_ready(self.app, self, self._repeat)

    def _repeat(self) -> None:
        last = self.last()
        product = self.app.kiosk.catalogue.products[last.product_code]
        self.app.session.repeat(last, product)
        self.app.push(ConfirmScreen(self.app))

    def new(self) -> None:
        when_printer_ready(self.app, self, self._new)

    def _new(self) -> None:
        self.app.session.style = Style.PRODUCER
        self.app.push(product_screen(self.app, choose_product))


def usual_products(app, limit: int = 3) -> list[Product]:
    key = app.session.producer.issuer.producer_key if app.session.producer else None
    if key is None:
        return []
    history = app.kiosk.issuance.list(producer_key=key, limit=50)
    counts = Counter(c.product_code for c in history)
    catalogue = app.kiosk.catalogue.products
    return [catalogue[code] for code, _ in counts.most_common(limit) if code in catalogue]


def product_option(app, product: Product, on_pick, style: str = "plain") -> Option:
    return Option(
        f"product_{product.code}",
        app.i18n.name(product.name, product.name_en),
        lambda: on_pick(app, product),
        product_picture(product),
        style,
    )


def search_option(app, on_pick) -> Option:
    return Option(
        "search",
        app.i18n.t("search"),
        lambda: app.push(SearchScreen(app, on_pick)),
        "search",
        "primary",
    )


def product_screen(app, on_pick) -> ChoiceScreen:
    """Usual products first, then categories with pictures, then pinyin search."""
    t = app.i18n.t
    options = [product_option(app, p, on_pick, "ok") for p in usual_products(app)]
    for cat in app.kiosk.catalogue.categories.values():
        options.append(
            Option(
                f"category_{cat.code}",
                app.i18n.name(cat.name, cat.name_en),
                partial(open_category, app, cat.code, on_pick),
                CATEGORY_PICTURES.get(cat.code),
            )
        )
    options.append(search_option(app, on_pick))
    return ChoiceScreen(app, t("product_title"), options, prompt="product")


def open_category(app, category: str, on_pick) -> None:
    app.push(category_screen(app, category, on_pick))


def category_screen(app, category: str, on_pick) -> ChoiceScreen:
    cat = app.kiosk.catalogue.categories[category]
    products = [
        p for p in app.kiosk.catalogue.products.values() if p.category == category and p.in_scope
    ]
    usual = {p.code for p in usual_products(app)}
    products.sort(key=lambda p: p.code not in usual)  # stable: the catalogue's order after
    options = [
        product_option(app, p, on_pick, "ok" if p.code in usual else "plain") for p in products
    ]
    return ChoiceScreen(
        app,
        app.i18n.name(cat.name, cat.name_en),
        options,
        footer=[search_option(app, on_pick)],
    )


def probe_extras(product: Product, quantity: Decimal) -> dict:
    """Stand-ins for what is asked after the quantity (the 检疫证明 number, the ear
    tags), so that a probe of the request checks holds and scope, not those."""
    if product.category != "livestock":
        return {}
    extras: dict = {"quarantine_cert": "000000"}
    if product.code in EAR_TAGGED and quantity == quantity.to_integral_value():
        extras["ear_tags"] = tuple(f"{n:015d}" for n in range(1, int(quantity) + 1))
    return extras


def choose_product(app, product: Product) -> None:
    """A hold on this producer and product is explained now, before anything is typed."""
    session = app.session
    probe = CertificateRequest(
        issuer=session.producer.issuer,
        product_code=product.code,
        quantity=Decimal(1),
        unit=product.default_unit,
        origin=session.origin(app.kiosk.config.device.township),
        **probe_extras(product, Decimal(1)),
    )
    try:
        app.kiosk.issuance.check(probe, basis_chosen=False)
    except (IssuanceRefused, InputError) as error:
        refusal(app, error)
        return
    session.product, session.unit, session.quantity = product, product.default_unit, None
    app.push(QuantityScreen(app))


class SearchScreen(Screen):
    """Pinyin initials on a letter board; matching products appear above it."""

    title_key = "search_title"

    def __init__(self, app, on_pick) -> None:
        super().__init__(app)
        self.on_pick = on_pick
        self.query = ""

    def type(self, char: str) -> None:
        self.query = self.query[:-1] if char == "⌫" else (self.query + char)[:6]
        self.refresh()

    def all_hits(self, found: list[Product]) -> None:
        options = [product_option(self.app, p, self.on_pick) for p in found]
        self.app.push(ChoiceScreen(self.app, self.t("search_title"), options))

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, board = layout.split_v(area, [0.25, 0.75], m.gap)
        found = self.app.kiosk.catalogue.search(self.query) if self.query else []
        heads = layout.split_h(top, [1.0, 1.0, 1.0, 1.0], m.gap)
        text = self.query.upper() or " "
        out: list[Widget] = [Label("query", heads[0], text, m.big_px, frame=True)]
        if self.query and not found:
            out.append(
                Label(
                    "no_match",
                    pygame.Rect(heads[1].x, top.y, top.right - heads[1].x, top.height),
                    self.t("no_match"),
                )
            )
        shown = found[:3] if len(found) <= 3 else found[:2]
        for cell, product in zip(heads[1:], shown, strict=False):
            opt = product_option(self.app, product, self.on_pick, "ok")
            out.append(Button(opt.key, cell, opt.text, opt.on_tap, opt.icon, opt.style))
        if len(found) > 3:  # the rest are one tap away, with their pictures
            out.append(
                Button(
                    "all_hits",
                    heads[3],
                    self.t("all_hits", n=len(found)),
                    lambda: self.all_hits(found),
                    "list",
                    "primary",
                )
            )
        keys = [*"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "⌫"]
        for cell, char in zip(layout.grid(board, 3, 9, m.gap), keys, strict=True):
            text = self.t("clear") if char == "⌫" else char
            out.append(
                Button(
                    f"letter_{char}" if char != "⌫" else "letter_del",
                    cell,
                    text,
                    partial(self.type, char),
                    style="plain",
                )
            )
        return out


class QuantityScreen(KeypadScreen):
    """How much: the keypad, the unit, and the scale's reading when a scale is attached."""

    def __init__(self, app) -> None:
        product = app.session.product
        super().__init__(
            app,
            "quantity_title",
            self.entered,
            decimal=True,
            max_len=8,
            prompt="quantity",
            title_values={"product": app.i18n.name(product.name, product.name_en)},
        )
        self.weight: Weight | None = None
        if app.session.quantity is not None:
            self.value = format_quantity(app.session.quantity)

    def shown(self) -> str:
        return f"{self.value or '0'} {self.app.session.unit}"

    def side_widgets(self, area: pygame.Rect) -> list[Widget]:
        m, session = self.app.metrics, self.app.session
        scale = self.app.kiosk.scale is not None and session.unit in ("公斤", "斤")
        rows = layout.split_v(area, [m.target] * (3 + scale), m.gap)
        units = list(session.what().units[:3])
        if session.unit is not None and session.unit not in units:
            units[-1] = session.unit
        out: list[Widget] = []
        for cell, unit in zip(
            layout.split_h(rows[0], [1.0] * len(units), m.gap), units, strict=True
        ):
            out.append(
                Button(
                    f"unit_{unit}",
                    cell,
                    unit,
                    partial(self.unit, unit),
                    style="selected" if unit == session.unit else "plain",
                )
            )
        if scale:
            text = (
                self.t("use_scale", weight=self.weight_text())
                if self.weight
                else self.t("scale_waiting")
            )
            out.append(
                Button(
                    "scale",
                    rows[1],
                    text,
                    self.use_scale,
                    "scale",
                    "plain",
                    enabled=self.weight is not None,
                )
            )
        out.append(Label("error", rows[-2], self.error, m.body_px, align="left"))
        out.append(Button("ok", rows[-1], self.t("ok"), self.submit, "check", "ok"))
        return out

    def unit(self, unit: str) -> None:
        self.app.session.unit = unit
        self.refresh()

    def weight_text(self) -> str:
        if self.weight is None:
            return ""
        kg = self.weight.kilograms
        value = kg * 2 if self.app.session.unit == "斤" else kg
        return f"{format_quantity(value.quantize(Decimal('0.01')))}{self.app.session.unit}"

    def use_scale(self) -> None:
        if self.weight is not None:
            self.value = self.weight_text().rstrip(self.app.session.unit)
            self.refresh()

    def tick(self, now: float) -> float | None:
        scale = self.app.kiosk.scale
        if scale is None:
            return None
        latest = scale.latest()
        weight = latest if latest is not None and latest.stable and latest.kilograms > 0 else None
        if weight != self.weight:
            self.weight = weight
            self.refresh()
        return now + 0.5

    def entered(self, value: str) -> str | None:
        try:
            quantity = parse_quantity(value or "0")
            if quantity <= 0:
                raise InputError("quantity", "not_positive", "数量必须大于0")
            session = self.app.session
            session.quantity = quantity
            probe = CertificateRequest(
                issuer=session.who().issuer,
                product_code=session.what().code,
                quantity=quantity,
                unit=session.unit or session.what().default_unit,
                origin=session.origin(self.app.kiosk.config.device.township),
                **probe_extras(session.what(), quantity),
            )
            self.app.kiosk.issuance.check(probe, basis_chosen=False)
        except InputError as error:
            return error.message
        except IssuanceRefused as error:
            refusal(self.app, error)
            return None
        if session.style is Style.BUYER:
            self.app.push(SourcesScreen(self.app))
        elif session.what().category == "livestock":
            session.quarantine_cert, session.ear_tags = None, []
            self.app.push(
                KeypadScreen(
                    self.app, "quarantine_title", partial(quarantine_entered, self.app),
                    max_len=20, prompt=None,
                )
            )  # fmt: skip
        else:
            self.app.push(InputsScreen(self.app, session.what(), inputs_chosen))
        return None


def quarantine_entered(app, value: str) -> str | None:
    """畜禽: the 动物检疫合格证明 number; cattle then scan every ear tag."""
    session = app.session
    try:
        cert, _ = validate_livestock(
            session.what().code, "livestock", session.unit or "", session.quantity or Decimal(0),
            value, tuple(probe_extras(session.what(), session.quantity or Decimal(0))
                         .get("ear_tags", ())),
        )  # fmt: skip
    except InputError as error:
        return error.message
    session.quarantine_cert = cert
    if session.what().code in EAR_TAGGED:
        app.push(EarTagScreen(app))
    else:
        app.push(InputsScreen(app, session.what(), inputs_chosen))
    return None


class EarTagScreen(Screen):
    """肉牛: scan every animal's ear tag (肉牛流通全程追溯); 完成 once all are in."""

    title_key = "ear_tags_title"
    prompt = None

    def __init__(self, app) -> None:
        super().__init__(app)
        self.message = ""

    def wanted(self) -> int:
        return int(self.app.session.quantity or 0)

    def on_scan(self, code: str) -> bool:
        tags = self.app.session.ear_tags
        code = code.strip()
        if not (len(code) == 15 and code.isdigit()):
            self.message = self.t("ear_tag_bad", code=code[:20])
        elif code in tags:
            self.message = self.t("ear_tag_twice", code=code)
        elif len(tags) >= self.wanted():
            self.message = self.t("ear_tags_enough", n=self.wanted())
        else:
            tags.append(code)
            self.message = ""
        self.refresh()
        return True

    def body(self, area: pygame.Rect) -> list[Widget]:
        m, tags = self.app.metrics, self.app.session.ear_tags
        top, listing, foot = layout.split_v(area, [0.6, 1.0, m.target], m.gap)
        prompt = self.message or self.t("ear_tags_prompt", n=self.wanted())
        return [
            Label("ear_tags_prompt", top, prompt, m.body_px,
                  style="warn" if self.message else "text"),
            Label("ear_tags_list", listing, "、".join(tags), m.body_px, align="left"),
            Button("ear_tags_done", foot, self.t("ear_tags_done", n=len(tags), total=self.wanted()),
                   self.done, "check", "ok", enabled=len(tags) == self.wanted()),
        ]  # fmt: skip

    def done(self) -> None:
        self.app.push(InputsScreen(self.app, self.app.session.what(), inputs_chosen))


class SourcesScreen(Screen):
    """样式二: scan each source certificate's QR; each is verified as it is scanned
    (signature, product, not voided) and listed, or refused with its reason."""

    title_key = "sources_title"
    prompt = None

    def __init__(self, app) -> None:
        super().__init__(app)
        self.message = ""
        self.ok = True

    def on_scan(self, code: str) -> bool:
        session = self.app.session
        try:
            source = self.app.kiosk.issuance.check_source(code, session.what().code)
        except InputError as error:
            self.message, self.ok = error.message, False
            self.app.speak(error.message)
        else:
            if source.number in session.source_numbers:
                self.message, self.ok = self.t("source_twice", number=source.number), False
            else:
                session.sources.append(code.strip())
                session.source_numbers.append(source.number)
                self.message, self.ok = "", True
        self.refresh()
        return True

    def body(self, area: pygame.Rect) -> list[Widget]:
        m, session = self.app.metrics, self.app.session
        top, listing, foot = layout.split_v(area, [0.6, 1.0, m.target], m.gap)
        prompt = self.message or self.t("sources_prompt")
        out: list[Widget] = [
            Label("sources_prompt", top, prompt, m.body_px, style="text" if self.ok else "warn"),
        ]
        numbers = "、".join(session.source_numbers) or self.t("sources_none")
        out.append(Label("sources_list", listing, numbers, m.body_px, align="left"))
        out.append(
            Button(
                "sources_done",
                foot,
                self.t("sources_done", n=len(session.source_numbers)),
                self.done,
                "check",
                "ok",
                enabled=bool(session.source_numbers),
            )
        )
        return out

    def done(self) -> None:
        session = self.app.session
        session.inputs, session.basis, session.test_ref = (), Basis.QUALITY_CONTROL, None
        self.app.push(ConfirmScreen(self.app))


class InputsScreen(ChoiceScreen):
    """What was used on the crop or the animals: pictures, several may be chosen, or nothing."""

    def __init__(self, app, product: Product, on_done) -> None:
        self.on_done = on_done
        self.kind = "pesticide" if product.category in PLANT_CATEGORIES else "vet_drug"
        self.chosen: list[str] = list(app.session.inputs or ()) if on_done is inputs_chosen else []
        t = app.i18n.t
        footer = [
            Option("nothing", t("inputs_nothing"), self.nothing, "none", "plain"),
            Option("inputs_done", t("inputs_done"), self.done, "check", "ok"),
        ]
        super().__init__(app, t("inputs_title"), [], prompt="inputs", footer=footer)
        self.page.items = self.options()

    def options(self) -> list[Option]:
        out = []
        for item in self.app.kiosk.catalogue.declarable_inputs(self.kind):  # never a banned one
            code = item.code
            out.append(
                Option(
                    f"input_{code}",
                    self.app.i18n.name(item.words or item.name, item.words_en or item.name_en),
                    partial(self.toggle, code),
                    "spray" if self.kind == "pesticide" else "pill",
                    "selected" if code in self.chosen else "plain",
                )
            )
        return out

    def toggle(self, code: str) -> None:
        if code in self.chosen:
            self.chosen.remove(code)
        else:
            self.chosen.append(code)
        self.page.items = self.options()
        self.refresh()

    def nothing(self) -> None:
        self.chosen = []
        self.on_done(self.app, ())

    def done(self) -> None:
        self.on_done(self.app, tuple(self.chosen))


def inputs_chosen(app, inputs: tuple[str, ...]) -> None:
    session = app.session
    session.inputs = inputs
    session.basis, session.test_ref = Basis.QUALITY_CONTROL, None
    test = passing_test(app)
    request = session.request(app.kiosk.config.device.township)
    if Basis.QUALITY_CONTROL not in app.kiosk.issuance.offered_bases(request.issuer):
        # The county's grade (yellow without a recent test, red) takes 质量安全控制 away.
        if test is None:
            try:
                app.kiosk.issuance.check(request)  # refused, in the grade's own words
            except (IssuanceRefused, InputError) as error:
                refusal(app, error)
                return
        session.basis, session.test_ref = Basis.SELF_TEST, test
        app.push(ConfirmScreen(app))
        return
    if test is None:
        app.push(ConfirmScreen(app))
    else:
        app.push(basis_screen(app, test))


def passing_test(app) -> str | None:
    """A recent negative rapid test of this producer and product that covers what was used."""
    request = app.session.request(app.kiosk.config.device.township)
    return app.kiosk.rapid_tests.passing_test(request)


def basis_screen(app, test_id: str) -> ChoiceScreen:
    t = app.i18n.t

    def pick(basis: Basis, ref: str | None) -> None:
        app.session.basis, app.session.test_ref = basis, ref
        app.push(ConfirmScreen(app))

    options = [
        Option(
            "basis_self_test",
            t("basis_self_test", ref=test_id),
            lambda: pick(Basis.SELF_TEST, test_id),
            "flask",
            "ok",
        ),
        Option(
            "basis_quality_control",
            t("basis_quality_control"),
            lambda: pick(Basis.QUALITY_CONTROL, None),
            "check",
            "plain",
        ),
    ]
    return ChoiceScreen(app, t("basis_title"), options, prompt="basis", max_cols=2)


class ConfirmScreen(Screen):
    """What is signed, in large words beside the real label; read aloud; copies; 打印."""

    title_key = "confirm_title"
    prompt = "confirm"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.image: pygame.Surface | None = None
        self.commitment = ""
        self.facts: list[tuple[str, str]] = []

    def on_enter(self) -> None:
        app = self.app
        try:
            draft, document = app.kiosk.issuance.preview(
                app.session.request(app.kiosk.config.device.township)
            )
        except (IssuanceRefused, InputError) as error:
            app.stack.pop()
            refusal(app, error)
            return
        template = app.kiosk.issuance.templates[draft.template_id]
        self.commitment = template.commitment_en if app.i18n.is_en else template.commitment
        label = render_label(document, app.font_path).convert("RGB")
        self.image = pygame.image.frombytes(label.tobytes(), label.size, "RGB")
        session, t = app.session, self.t
        what = session.what()
        product = app.i18n.name(what.name, what.name_en)
        quantity = f"{format_quantity(session.quantity or Decimal(0))}{session.unit}"
        self.facts = [
            ("fact_product", t("fact_product", value=product)),
            ("fact_quantity", t("fact_quantity", value=quantity)),
            ("fact_issuer", t("fact_issuer", value=session.who().name)),
            ("fact_basis", t("fact_basis", value=t(f"basis_short_{session.basis.value}"))),
        ]
        super().on_enter()
        # "青菜，12.5公斤，张秀英" before the commitment, never cut off by it.
        app.speak(t("confirm_spoken", product=product, quantity=quantity, name=session.who().name))
        app.say("commitment")

    def copies(self, delta: int) -> None:
        limit = self.app.kiosk.config.certificate.copies_max
        self.app.session.copies = max(1, min(limit, self.app.session.copies + delta))
        self.refresh()

    def body(self, area: pygame.Rect) -> list[Widget]:
        m, n = self.app.metrics, self.app.session.copies
        left, right = layout.split_h(area, [0.9, 1.1], m.gap * 2)
        pic, words = layout.split_v(left, [0.55, 0.45], m.gap)
        rows = layout.split_v(right, [1.0, m.target, m.target], m.gap)
        facts = layout.split_v(rows[0], [1.0] * len(self.facts), 2) if self.facts else []
        counter = layout.split_h(rows[1], [1.0, 2.0, 1.0], m.gap)
        out: list[Widget] = [
            Picture("preview", pic, self.image),
            Label("commitment", words, self.commitment, m.body_px, align="left"),
        ]
        for cell, (key, text) in zip(facts, self.facts, strict=True):
            out.append(Label(key, cell, text, m.big_px, align="left"))
        out += [
            Button("fewer", counter[0], "", lambda: self.copies(-1), "minus", "plain"),
            Label("copies", counter[1], self.t("copies", n=n), m.big_px),
            Button("more_copies", counter[2], "", lambda: self.copies(1), "plus", "plain"),
            Button("print", rows[2], self.t("print"), self.print, "printer", "ok", max_px=m.big_px),
        ]
        return out

    def print(self) -> None:
        request = self.app.session.request(self.app.kiosk.config.device.township)
        self.app.push(
            PrintScreen(
                self.app,
                lambda services, control: services.issuance.issue(request, control.progress),
                request.copies,
            )
        )


class PrintScreen(Screen):
    """Copies with live progress; a paper-out or open cover is explained and resumed here.

    The printing runs on the printer's worker: the screen keeps answering taps (the
    speaker button says the prompt again) while a label crawls out at 9600 baud.
    """

    prompt = "printing"
    yields_to_service = False

    def __init__(self, app, job, total: int, done_screen=None, label: str = "print") -> None:
        super().__init__(app)
        self.job = job
        self.label = label
        self.total = total
        self.done = 0
        self.outcome = None
        self.problem: str | None = None
        self.problem_title = "printing_wait"
        self.done_screen = done_screen or (lambda: DoneScreen(app))
        self.busy = True
        self.started = False
        self.show_back = self.show_home = False

    def title(self) -> str:
        return self.t(self.problem_title if self.problem else "printing_wait")

    def on_enter(self) -> None:
        if not self.started:
            self.started = True
            super().on_enter()
            self.start(self.job)

    def start(self, job) -> None:
        self.busy, self.problem = True, None
        self.show_back = self.show_home = False
        self.app.signal(light=LightState.BUSY)
        self.app.run_job(
            self,
            "printer",
            job,
            label=self.label,
            expected_s=print_expected_s(self.app, self.total),
        )

    def on_message(self, kind: str, data: dict) -> None:
        if kind == "progress":
            self.done = data["done"]
        elif kind == "job_failed":
            self.failed(data["error"])
        elif kind == "job_done":
            outcome = data["result"]
            self.outcome = outcome if outcome is not None else self.outcome
            if outcome is None or outcome.printed:
                self.busy = False
                self.app.signal(BuzzerPattern.ATTENTION, LightState.READY)
                self.app.replace(self.done_screen())
                return
            self.done = outcome.copies_done
            self.failed(outcome.error)
        self.refresh()

    def failed(self, error: Exception) -> None:
        from drivers.printer.base import PrinterError

        self.busy = False
        self.show_home = True
        self.app.signal(BuzzerPattern.ERROR, LightState.FAULT)
        if isinstance(error, PrinterError):
            key = {"paper_out": "paper_out", "cover_open": "cover_open"}.get(
                error.fault.value, "offline"
            )
            self.problem = self.t(key, done=self.done)
            self.problem_title = f"{key}_title"
            self.app.say("paper_out" if key == "paper_out" else "refused")
            self.app.speak(self.problem)
        elif isinstance(error, IssuanceRefused | InputError):
            self.app.stack.pop()
            refusal(self.app, error)
        else:
            log.error("print failed: %s", error)
            self.problem = self.t("failed_plain")
            self.problem_title = "offline_title"
            self.app.speak(self.problem)

    def resume(self) -> None:
        """Print what is missing: a reprint (marked 补打) of the same number."""
        remaining = max(1, self.total - self.done)
        if self.outcome is not None:
            number = self.outcome.certificate.number
            already = self.done
            self.total, self.done = remaining, 0
            log.info("resuming %s: %d printed, %d to go", number, already, remaining)
            self.start(
                lambda services, control: services.issuance.reprint(
                    number, remaining, control.progress
                )
            )
        else:
            self.start(self.job)

    def again(self) -> None:
        self.app.say(self.prompt)

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        if self.problem:
            rows = layout.split_v(area, [1.0, m.target], m.gap)
            return [
                Alert("problem", rows[0], self.problem, "warning"),
                Button("continue", rows[1], self.t("continue_print"), self.resume, "printer", "ok"),
            ]
        rows = layout.split_v(area, [1.0, m.target], m.gap * 2)
        top = layout.split_h(rows[0], [3.0, 1.0], m.gap)
        shown = min(self.total, self.done + 1)
        return [
            Icon("printer_icon", top[0].inflate(-m.gap, -m.gap), "printer", (0, 66, 138)),
            Button(
                "say_again",
                pygame.Rect(top[1].x, top[1].bottom - m.target * 2, top[1].width, m.target * 2),
                self.t("say_again"),
                self.again,
                "speaker",
                "plain",
            ),
            Progress(
                "progress",
                rows[1],
                self.done / max(1, self.total),
                self.t("printing", done=shown, total=self.total),
            ),
        ]


class DoneScreen(Screen):
    """请取走标签; the session ends by itself after a short countdown (one person, one
    session), unless the same farmer taps the big 继续开证."""

    title_key = "take_labels"
    prompt = "take_labels"
    show_back = False
    countdown_s = DONE_COUNTDOWN_S

    def __init__(self, app) -> None:
        super().__init__(app)
        self.deadline: float | None = None
        self.seconds = self.countdown_s
        self.left = self.seconds

    def on_enter(self) -> None:
        self.deadline = time.monotonic() + self.seconds
        super().on_enter()

    def tick(self, now: float) -> float | None:
        left = max(0, round(self.deadline - now)) if self.deadline else self.seconds
        if left != self.left:
            self.left = left
            self.refresh()
        if left <= 0:
            log.info("labels printed: session ended")
            self.app.go_home(greet=False)
            return None
        return now + 0.25

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, bottom = layout.split_v(area, [1.0, m.target * 1.5], m.gap)
        icon, words = layout.split_h(top, [1.0, 2.0], m.gap)
        word_rows = layout.split_v(words, [1.0, 0.6], m.gap)
        feet = layout.split_h(bottom, [2.0, 1.0], m.gap)
        return [
            Icon("hand_icon", icon.inflate(-m.gap, -m.gap), "hand", (0, 66, 138)),
            Label("take", word_rows[0], self.t("take_labels"), m.big_px * 2),
            Label("countdown", word_rows[1], self.t("session_ends", seconds=self.left), m.body_px),
            Button(
                "another", feet[0], self.t("done_more"), self.another, "plus", "ok", max_px=m.big_px
            ),
            Button("finish", feet[1], self.t("finish"), self.finish, "check", "plain"),
        ]

    def another(self) -> None:
        producer = self.app.session.producer
        self.app.go_home(greet=False)
        if producer is not None:
            identified(self.app, producer)

    def finish(self) -> None:
        self.app.go_home(greet=False)


class IdleWarningScreen(Screen):
    """Nobody has touched the screen for a while: say so, count down, then clear."""

    title_key = "idle_title"
    prompt = "idle_warning"
    show_back = show_home = False

    def __init__(self, app, deadline: float) -> None:
        super().__init__(app)
        self.deadline = deadline
        self.left = 0

    def tick(self, now: float) -> float | None:
        left = max(0, round(self.deadline - now))
        if left != self.left:
            self.left = left
            self.refresh()
        return now + 0.25

    def body(self, area: pygame.Rect) -> list[Widget]:
        m = self.app.metrics
        top, bottom = layout.split_v(area, [1.0, m.target * 1.5], m.gap)
        feet = layout.split_h(bottom, [2.0, 1.0], m.gap)
        return [
            Alert("idle", top, self.t("idle_warning", seconds=self.left), "clock", style="warn"),
            Button(
                "still_here",
                feet[0],
                self.t("still_here"),
                self.stay,
                "check",
                "ok",
                max_px=m.big_px,
            ),
            Button("finish", feet[1], self.t("finish"), self.finish, "home", "plain"),
        ]

    def stay(self) -> None:
        self.app.touch()
        self.app.back()

    def finish(self) -> None:
        self.app.go_home(greet=False)
