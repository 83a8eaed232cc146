"""The 快速检测结果单: printed on the simulated printer, decoded back from the printed
bytes, its signed QR verified offline and classified by the county's scan page; a slip
is never accepted where a certificate is expected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import printer_decode
from support.rapidtest import PRODUCER, service
from support.reader import simulated_reader

from kiosk.services.rapidtest import SampleSlot
from kiosk.services.rapidtest_slips import result_slip
from kiosk.services.sources import SourceRefused
from station.db import Database
from station.web.scan import Status, scan
from wire.verify import Reason, verify_qr_text

GBT = "GBT5009199"


@pytest.fixture
def slip(kiosk, tmp_path):
    with simulated_reader(tmp_path / "reader") as reader:
        svc = service(kiosk, reader)
        svc.register_sample("S-1", product_code="V001", batch_quantity="500",
                            sampling_place="城关镇检测站", **PRODUCER)  # fmt: skip
        svc.add_kit_lot(f'lot = "EZ-7"\nmethod = "{GBT}"\n'
                        f'expires = "{kiosk.clock().date() + timedelta(days=30)}"\n')  # fmt: skip
        (r,) = svc.run_enzyme(GBT, [SampleSlot("S-1", 1)], kit_lot="EZ-7",
                              tester="王技术员").results  # fmt: skip
    paper = kiosk.printer.profile
    return result_slip(svc, r.test_id, county=kiosk.config.device.county, signer=kiosk.signer,
                       verify_url=kiosk.issuance.settings.verify_url, width=paper.width,
                       height=paper.height)  # fmt: skip


def test_slip_prints_decodes_back_and_verifies_offline(kiosk, slip) -> None:
    assert len(slip.documents) == 2  # a 60x40 label: the words, then the QR
    for document in slip.documents:
        kiosk.printer.print_label(document, 1)
    data = bytes(kiosk.printer.simulated_device.received)
    (printed_qr,) = [c.args[-1] for c in printer_decode.tspl_qrcodes(data)]
    assert printed_qr == slip.qr_text
    printed = printer_decode.tspl_texts(data)
    for line in (
        "快速检测结果单",
        "检测员：王技术员",
        "试剂批号：EZ-7",
        "产品：青菜  批次：500公斤",
    ):
        assert line in printed
    verdict = verify_qr_text(printed_qr, kiosk.trust_list(), kiosk.clock())
    assert verdict.valid and verdict.message == "快速检测结果单真实有效"
    f = verdict.fields
    assert f is not None and f.is_slip
    assert (f.number, f.issuer, f.product, f.quantity, f.origin) == (
        f"330100-{slip.test_id}", "张秀英", "青菜", "500公斤", "城关镇检测站",
    )  # fmt: skip
    assert f.test_ref.startswith("阴性") and f.source_certificate == f"{GBT}|EZ-7|S-1"
    forged = printed_qr[:-3] + ("A" if printed_qr[-3] != "A" else "B") + printed_qr[-2:]
    assert verify_qr_text(forged, kiosk.trust_list(), kiosk.clock()).reason in (
        Reason.BAD_SIGNATURE, Reason.MALFORMED,
    )  # fmt: skip


def test_the_county_scan_page_says_slip_not_certificate(kiosk, slip, tmp_path) -> None:
    verdict = verify_qr_text(slip.qr_text, kiosk.trust_list(), kiosk.clock())
    with Database(tmp_path / "station.db") as db:
        result = scan(db, verdict, kiosk.clock(), 30)
    assert result.status is Status.RAPIDTEST_SLIP and result.record is None


def test_a_slip_is_refused_as_a_style2_source_certificate(kiosk, slip) -> None:
    """Attack: a genuine slip scanned where a supplier's certificate is expected."""
    with pytest.raises(SourceRefused) as refused:
        kiosk.issuance.sources.check(slip.qr_text, "V001")
    assert refused.value.code == "not_certificate" and "结果单" in refused.value.message


def test_slip_from_the_cli_prints_it(kiosk, slip) -> None:
    import argparse
    import io
    import json

    from app.cli_reader import EXIT_OK, add_commands, run_command

    parser = argparse.ArgumentParser(prog="kiosk")
    add_commands(parser.add_subparsers(dest="command", required=True))
    out = io.StringIO()
    before = kiosk.printer.simulated_device.label_count
    args = parser.parse_args(["test", "slip", slip.test_id, "--json"])
    assert run_command(args, kiosk, out) == EXIT_OK
    shown = json.loads(out.getvalue())
    assert shown["qr_text"] == slip.qr_text and shown["printed"]  # the same signed text
    assert kiosk.printer.simulated_device.label_count == before + 2


def test_on_a_roll_the_slip_is_one_document_with_its_qr() -> None:
    from kiosk.services.rapidtest_slips import _layout

    (doc,) = _layout(("检测编号：K001-T000001",), "HTTPS://X/ABC", 3, 576, None)
    assert doc.qr_codes()[0].data == "HTTPS://X/ABC" and "快速检测结果单" in doc.texts()
