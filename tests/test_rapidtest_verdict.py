"""Known-answer tests: inhibition % and T/C from hand-made curves and profiles."""

from __future__ import annotations

import pytest

from kiosk.domain.rapidtest_cases import (
    CaseClosed,
    PriorResult,
    case_state,
    decide,
    next_portion,
)
from kiosk.domain.rapidtest_methods import MethodBook, MethodError, method_from_dict
from kiosk.domain.rapidtest_verdict import (
    Curve,
    delta_a,
    enzyme_readout,
    inhibition_percent,
    line_height,
    strip_readout,
)

BOOK = MethodBook.load()
GBT, NYT = BOOK.get("GBT5009199"), BOOK.get("NYT448")
FIPRONIL = BOOK.get("STRIP-FIP-EGG")
TIMES = tuple(float(t) for t in range(0, 181, 10))


def linear(start: float, slope_per_s: float) -> Curve:
    return Curve(TIMES, tuple(start + slope_per_s * t for t in TIMES))


def test_delta_a_and_inhibition_known_answers() -> None:
    control = linear(0.100, 0.003)  # ΔA 0.54 over 180 s
    sample = linear(0.450, 0.0012)  # pigment offset 0.45 does not matter; ΔA 0.216
    assert delta_a(control, (0, 180)) == pytest.approx(0.54, abs=1e-12)
    assert delta_a(sample, (0, 180)) == pytest.approx(0.216, abs=1e-12)
    assert delta_a(control, (60, 120)) == pytest.approx(0.18, abs=1e-12)
    assert inhibition_percent(0.54, 0.216) == pytest.approx(60.0, abs=1e-9)
    assert inhibition_percent(0.5, 0.55) == pytest.approx(-10.0, abs=1e-9)
    with pytest.raises(ValueError, match="control"):
        inhibition_percent(0.0, 0.1)


def test_thresholds_come_from_the_method() -> None:
    curves = {
        0: linear(0.1, 0.003),  # control ΔA 0.54
        1: linear(0.1, 0.0012),  # 60 %
        2: linear(0.1, 0.00165),  # 45 %
        3: linear(0.1, 0.0024),  # 20 %
        4: linear(0.1, 0.0009),  # 70 %
    }
    temps = [25.0] * len(TIMES)
    gbt = enzyme_readout(GBT, curves, temps, control_channel=0)
    nyt = enzyme_readout(NYT, curves, temps, control_channel=0)
    assert gbt.invalid_reason is None and gbt.control_delta_a == pytest.approx(0.54)
    assert {ch: r.reading for ch, r in gbt.channels.items()} == {
        1: "positive", 2: "suspicious", 3: "negative", 4: "positive",
    }  # fmt: skip
    assert {ch: r.reading for ch, r in nyt.channels.items()} == {
        1: "suspicious", 2: "negative", 3: "negative", 4: "positive",
    }  # fmt: skip
    assert gbt.channels[1].inhibition_percent == pytest.approx(60.0, abs=1e-9)
    assert gbt.channels[4].inhibition_percent == pytest.approx(70.0, abs=1e-9)


@pytest.mark.parametrize("control_slope", [0.0015, 0.0050])  # ΔA 0.27 and 0.90
def test_control_out_of_range_makes_every_reading_invalid(control_slope: float) -> None:
    curves = {0: linear(0.1, control_slope), 1: linear(0.1, 0.0001), 2: linear(0.1, control_slope)}
    out = enzyme_readout(GBT, curves, [25.0] * len(TIMES), control_channel=0)
    assert out.invalid_reason and "对照" in out.invalid_reason
    assert {r.reading for r in out.channels.values()} == {"invalid"}  # never negative


def test_temperature_out_of_window_makes_the_run_invalid() -> None:
    curves = {0: linear(0.1, 0.003), 1: linear(0.1, 0.0029)}  # a clear negative otherwise
    temps = [25.0] * len(TIMES)
    temps[7] = 27.4  # one reading above 25 ± 2 °C is enough
    out = enzyme_readout(GBT, curves, temps, control_channel=0)
    assert out.channels[1].reading == "invalid" and "温度" in out.invalid_reason
    assert out.temperature_range == (25.0, 27.4)
    ok = enzyme_readout(GBT, curves, [23.0] * len(TIMES), control_channel=0)
    assert ok.channels[1].reading == "negative"  # the window's edges are inside


def strip(t_height: float, c_height: float, points: int = 400, step: float = 0.1) -> list[float]:
    """A sloping baseline with narrow T (15 mm) and C (25 mm) lines of exact heights."""
    profile = [50 + 0.5 * i * step for i in range(points)]
    for centre, height in ((150, t_height), (250, c_height)):
        profile[centre - 1] += height / 2
        profile[centre] += height
        profile[centre + 1] += height / 2
    return profile


def test_line_heights_are_baseline_corrected() -> None:
    profile = strip(240, 600)
    assert line_height(profile, 0.1, (13.5, 16.5)) == pytest.approx(240, abs=1e-9)
    assert line_height(profile, 0.1, (23.5, 26.5)) == pytest.approx(600, abs=1e-9)
    assert line_height(strip(0, 0), 0.1, (23.5, 26.5)) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize(
    ("t", "c", "minutes", "reading", "ratio"),
    [
        (240, 600, 8, "positive", 0.4),  # T weaker than the cut-off: competitive positive
        (330, 600, 8, "suspicious", 0.55),  # between cut-off 0.5 and 0.6
        (480, 600, 8, "negative", 0.8),
        (480, 100, 8, "invalid", None),  # no C line
        (480, 600, 3, "invalid", 0.8),  # read before the kit's window
        (480, 600, 16, "invalid", 0.8),  # and after it
    ],
)
def test_strip_known_answers(t, c, minutes, reading, ratio) -> None:
    out = strip_readout(FIPRONIL, strip(t, c), 0.1, minutes)
    assert out.reading == reading
    if ratio is None:
        assert out.ratio is None and "C线" in out.invalid_reason
    else:
        assert out.ratio == pytest.approx(ratio, abs=1e-9)


def test_state_machine_first_positive_asks_for_a_second_portion() -> None:
    first = decide([], 1, "positive")
    assert (first.verdict, first.status, first.retest_of) == ("suspicious", "retest_required", None)
    h = [PriorResult("T1", 1, "positive", first.status)]
    assert case_state(h) == "retest_required" and next_portion(h) == 2
    same = decide(h, 1, "positive")  # the same portion again proves nothing new
    assert (same.verdict, same.status, same.retest_of) == ("suspicious", "retest_required", "T1")
    confirmed = decide(h, 2, "positive")
    assert (confirmed.verdict, confirmed.status, confirmed.retest_of) == (
        "positive",
        "confirmed",
        "T1",
    )
    with pytest.raises(CaseClosed):
        decide([*h, PriorResult("T2", 2, "positive", "confirmed")], 3, "negative")


def test_state_machine_disagreeing_retest_leaves_it_unresolved() -> None:
    h = [PriorResult("T1", 1, "positive", "retest_required")]
    neg = decide(h, 2, "negative")
    assert (neg.verdict, neg.status, neg.retest_of) == ("negative", "unresolved", "T1")
    h.append(PriorResult("T2", 2, "negative", neg.status))
    assert case_state(h) == "unresolved" and next_portion(h) == 3
    assert decide(h, 3, "positive").status == "confirmed"
    invalid = decide(h, 3, "invalid")
    assert (invalid.verdict, invalid.status) == ("invalid", "invalid")
    assert case_state([PriorResult("T9", 1, "invalid", "invalid")]) == "invalid"
    assert case_state([PriorResult("T9", 1, "negative", "final")]) == "negative"


def test_methods_file_is_checked() -> None:
    assert GBT.threshold_percent == 50 and NYT.threshold_percent == 70
    assert GBT.control_delta_a == (0.3, 0.8) and GBT.temperature_c == (23.0, 27.0)
    assert set(GBT.covers) == {"organophosphate", "carbamate"}
    assert FIPRONIL.read_window_min == (5.0, 15.0) and FIPRONIL.matrices == ("egg",)
    strips = {m.analyte for m in BOOK.methods.values() if m.kind == "strip"}
    beta = {"clenbuterol", "ractopamine", "salbutamol"}  # 瘦肉精 for 生猪/牛/羊
    cowpea = {"carbofuran", "omethoate", "chlorpyrifos", "fenthion", "cyromazine",
              "clothianidin", "thiamethoxam", "acetamiprid", "abamectin"}  # fmt: skip
    assert strips == {"diazepam", "enrofloxacin", "fipronil", "malachite_green"} | beta | cowpea
    for method in BOOK.methods.values():
        if method.analyte in beta | cowpea:  # cut-offs from the kit lot, one panel each
            assert method.lot_required and method.panel and method.products
    entry = GBT.as_dict()
    assert method_from_dict(entry) == GBT  # the snapshot stored with a run round-trips
    with pytest.raises(MethodError, match="threshold_percent"):
        method_from_dict({**entry, "threshold_percent": "50"})
    with pytest.raises(MethodError, match="control_delta_a"):
        method_from_dict({**entry, "control_delta_a": [0.8, 0.3]})
    with pytest.raises(MethodError, match="unknown keys"):
        method_from_dict({**entry, "cutoff": 1})
    with pytest.raises(MethodError, match="unknown input classes"):
        MethodBook.load(input_classes={"organophosphate"})  # carbamate unknown to this catalogue
    with pytest.raises(MethodError, match="unknown matrices"):
        MethodBook.load(categories={"vegetable"})


def test_state_machine_gbt5009199_needs_two_further_portions() -> None:
    assert GBT.retest_portions == 2 and NYT.retest_portions == 1
    first = decide([], 1, "positive", GBT.retest_portions)
    h = [PriorResult("T1", 1, "positive", first.status)]
    second = decide(h, 2, "positive", GBT.retest_portions)
    assert (second.verdict, second.status) == ("suspicious", "retest_required")
    h.append(PriorResult("T2", 2, "positive", second.status))
    assert case_state(h) == "retest_required" and next_portion(h) == 3
    third = decide(h, 3, "positive", GBT.retest_portions)
    assert (third.verdict, third.status, third.retest_of) == ("positive", "confirmed", "T1")
    # a negative in between: the case stays open, and positives on three portions confirm
    h = [PriorResult("T1", 1, "positive", "retest_required"),
         PriorResult("T2", 2, "negative", "unresolved")]  # fmt: skip
    assert decide(h, 3, "positive", 2).status == "retest_required"


def test_method_scopes_follow_the_standards() -> None:
    from kiosk.domain.catalogue import Catalogue

    cat = Catalogue.load()
    products = cat.products
    assert NYT.scope_refusal(products["V005"], "蔬菜")[0].endswith("不包括韭菜")
    assert NYT.scope_refusal(products["V014"], "蔬菜")[0].endswith("不包括胡萝卜")
    assert NYT.scope_refusal(products["V001"], "蔬菜") is None
    assert GBT.scope_refusal(products["V005"], "蔬菜") is None  # GB/T 5009.199 keeps 韭菜
    tea = GBT.scope_refusal(products["T001"], "茶鲜叶")
    assert tea and "茶鲜叶" in tea[0] and tea[1]
    assert GBT.scope_refusal(products["F001"], "水果") is not None  # a vegetable method
    assert BOOK.get("GBT18625").scope_refusal(products["T001"], "茶鲜叶") is None


def test_older_stored_snapshots_without_scope_keys_still_load() -> None:
    snapshot = GBT.as_dict()
    del snapshot["excludes"], snapshot["retest_portions"]
    again = method_from_dict(snapshot)
    assert again.retest_portions == 1 and again.excludes == ()
    with pytest.raises(MethodError, match="retest_portions"):
        method_from_dict({**GBT.as_dict(), "retest_portions": 0})
