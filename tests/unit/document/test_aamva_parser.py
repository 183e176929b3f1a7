"""AAMVA DL/ID barcode payloads: header, subfiles, names, date orders, versions, errors."""

from __future__ import annotations

from datetime import date

import pytest

from idproof.verification.document.aamva import AamvaError, build_aamva, parse_aamva

# A version 8 US payload laid out as the D20 standard's example (synthetic values).
US_V8 = (
    "@\n\x1e\rANSI 636000080002DL00410272ZV03130008DL"
    "DAQT64235789\nDCSSAMPLE\nDDEN\nDACMICHAEL\nDDFN\nDADJOHN\nDDGN\nDCAD\nDCBK\nDCDPH\n"
    "DBD06062016\nDBB06061986\nDBA12102024\nDBC1\nDAU068 in\nDAYBRO\nDAG2300 WEST BROAD STREET\n"
    "DAIRICHMOND\nDAJVA\nDAK232690000  \nDCF2424244747474786102204\nDCGUSA\nDCK123456789\n"
    "DDAF\nDDB06062008\nDDC06062009\nDDD1\r"
    "ZVZVA01\r"
)


def test_us_version_8_payload() -> None:
    r = parse_aamva(US_V8)
    assert r.valid and r.version == 8 and r.jurisdiction_version == 0 and r.iin == "636000"
    assert r.document_type == "DL" and r.family_name == "SAMPLE"
    assert (r.first_name, r.middle_names, r.given_names) == ("MICHAEL", "JOHN", "MICHAEL JOHN")
    assert r.birth_date == date(1986, 6, 6) and r.expiry_date == date(2024, 12, 10)
    assert r.issue_date == date(2016, 6, 6)
    assert r.sex == "M" and r.customer_id == "T64235789" and r.country == "USA"
    assert r.jurisdiction == "VA" and r.postal_code == "232690000"
    assert r.subfiles["ZV"] == {"ZVA": "01"}  # subfile "ZV", element "ZVA"


def test_canadian_dates_are_ccyymmdd() -> None:
    payload = build_aamva({"DAQ": "A1234-56789-01234", "DCS": "TREMBLAY", "DAC": "MARIE",
                           "DAD": "NONE", "DBB": "19900215", "DBA": "20300215", "DBC": "2",
                           "DAJ": "QC", "DCG": "CAN"}, iin="636044", version=9)
    r = parse_aamva(payload.encode("latin-1"))
    assert r.country == "CAN" and r.birth_date == date(1990, 2, 15)
    assert r.expiry_date == date(2030, 2, 15) and r.sex == "F" and r.middle_names == ""


def test_country_inferred_from_province_when_missing() -> None:
    payload = build_aamva({"DAQ": "X1", "DCS": "ROY", "DAC": "LUC", "DBB": "19800102",
                           "DBA": "20290102", "DAJ": "ON"}, version=6)
    r = parse_aamva(payload)
    assert r.country == "CAN" and r.birth_date == date(1980, 1, 2)


def test_version_1_full_name_and_dates() -> None:
    payload = build_aamva({"DAQ": "123", "DAA": "DOE,JANE,Q", "DBB": "19700131",
                           "DBA": "20250131", "DBC": "F", "DAJ": "NY"}, version=1)
    assert payload[15:17] == "01" and payload[17:19] == "01"  # no jurisdiction version
    r = parse_aamva(payload)
    assert r.version == 1 and r.jurisdiction_version is None
    assert (r.family_name, r.first_name, r.middle_names) == ("DOE", "JANE", "Q")
    assert r.birth_date == date(1970, 1, 31) and r.sex == "F"


def test_versions_2_and_3_given_names_in_dct() -> None:
    payload = build_aamva({"DAQ": "9", "DCS": "SMITH", "DCT": "ANNA,MARIE", "DBB": "02291992",
                           "DBA": "03012030", "DBC": "9", "DAJ": "TX"}, version=3)
    r = parse_aamva(payload)
    assert (r.first_name, r.middle_names) == ("ANNA", "MARIE")
    assert r.birth_date == date(1992, 2, 29) and r.sex == "X"


def test_id_card_subfile_and_offsets_off_by_some() -> None:
    good = build_aamva({"DAQ": "ID1", "DCS": "LEE", "DAC": "KIM", "DBB": "01021999",
                        "DBA": "01022031", "DAJ": "WA"}, document_type="ID")
    r = parse_aamva(good)
    assert r.document_type == "ID" and r.family_name == "LEE"
    # An issuer whose offset is off by two still parses: the subfile type is the anchor.
    off = good.replace("ID0031", "ID0029", 1)
    assert parse_aamva(off).family_name == "LEE"
    # Leading junk before the compliance indicator (some scanners prepend it) is skipped.
    assert parse_aamva("\x00\x00" + good).customer_id == "ID1"


@pytest.mark.parametrize("bad", [
    "", "hello", "@\n\x1e\rANSI 63600010", "@\n\x1e\rANSI 6360001000",
    "@\n\x1e\rANSI 636000100001ZZ00310010ZZZZA1\r", "@\n\x1e\rANSI 636000110001DL00310010DL",
])
def test_not_aamva_is_unreadable(bad: str) -> None:
    with pytest.raises(AamvaError) as exc:
        parse_aamva(bad)
    assert exc.value.reason == "document_unreadable"


def test_missing_fields_are_problems() -> None:
    r = parse_aamva(build_aamva({"DAQ": "", "DCS": "X", "DBB": "13452000", "DBA": "x"}))
    assert not r.valid
    assert {"birth_date_invalid", "expiry_date_invalid", "customer_id_missing"} <= set(
        r.problems)
