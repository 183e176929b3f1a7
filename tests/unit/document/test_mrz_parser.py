"""ICAO 9303 MRZ parser: Doc 9303 specimens, check digits, repair, century inference, errors."""

from __future__ import annotations

from datetime import date

import pytest

from idproof.verification.document.countries import (
    ICAO_SPECIAL_CODES,
    ISO_3166_ALPHA3,
    is_known_code,
)
from idproof.verification.document.mrz import (
    DOCUMENT_UNREADABLE,
    MRZ_CHECKSUM_FAILED,
    MrzError,
    MrzFormat,
    MrzParser,
    birth_date_from_yymmdd,
    build_mrz,
    check_digit,
    expiry_date_from_yymmdd,
    parse_mrz,
)

TODAY = date(2026, 1, 1)

# Specimens of ICAO Doc 9303 (part 4: TD3, part 5: TD1, part 6: TD2, part 7: MRV-A/MRV-B);
# their check digits are recomputed in test_specimen_check_digits below.
TD3_SPECIMEN = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
TD1_SPECIMEN = ("I<UTOD231458907<<<<<<<<<<<<<<<",
                "7408122F1204159UTO<<<<<<<<<<<6",
                "ERIKSSON<<ANNA<MARIA<<<<<<<<<<")
TD1_LONG_NUMBER_SPECIMEN = ("I<UTOD23145890<7349<<<<<<<<<<<",
                            "3407127M9507122UTO<<<<<<<<<<<2",
                            "STEVENSON<<PETER<JOHN<<<<<<<<<")
TD2_SPECIMEN = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
                "D231458907UTO7408122F1204159<<<<<<<6")
MRVA_SPECIMEN = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                 "L8988901C4XXX4009078F96121096ZE184226B<<<<<<")
MRVB_SPECIMEN = ("V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
                 "L8988901C4XXX4009078F9612109<<<<<<<<")


def parse(lines: tuple[str, ...] | str, **kw: object) -> object:
    return MrzParser(today=TODAY, allow_specimen=True, **kw).parse(lines)  # type: ignore[arg-type]


def test_check_digit_values() -> None:
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    assert check_digit("ZE184226B<<<<<") == "1"
    assert check_digit("<<<<") == "0"
    with pytest.raises(ValueError):
        check_digit("a")


def test_specimen_check_digits() -> None:
    # TD3 composite: doc number+check, DOB+check, expiry+check, personal number+check.
    l2 = TD3_SPECIMEN[1]
    assert check_digit(l2[0:10] + l2[13:20] + l2[21:43]) == l2[43]
    td1 = TD1_SPECIMEN
    assert check_digit(td1[0][5:30] + td1[1][0:7] + td1[1][8:15] + td1[1][18:29]) == td1[1][29]
    assert check_digit("D23145890734") == "9"  # the long number's check digit in column 18


def test_td3_specimen() -> None:
    r = parse(TD3_SPECIMEN)
    assert r.valid and r.document_type is MrzFormat.TD3
    assert r.document_code == "P<" and r.issuing_country == "UTO" and r.nationality == "UTO"
    assert (r.surname, r.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert r.document_number == "L898902C3"
    assert r.birth_date == date(1974, 8, 12) and r.expiry_date == date(2012, 4, 15)
    assert r.sex == "F" and r.personal_number == "ZE184226B"
    assert r.checks == {"document_number": True, "birth_date": True, "expiry_date": True,
                        "personal_number": True, "composite": True}
    assert r.composite_ok is True and r.repairs == () and r.specimen
    assert r.names_check_protected is False


def test_td1_specimen() -> None:
    r = parse(TD1_SPECIMEN)
    assert r.valid and r.document_type is MrzFormat.TD1 and r.document_code == "I<"
    assert r.document_number == "D23145890" and r.optional_data == ""
    assert (r.surname, r.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert r.birth_date == date(1974, 8, 12) and r.expiry_date == date(2012, 4, 15)
    assert r.composite_ok


def test_td1_long_document_number_overflows_into_optional_data() -> None:
    r = parse(TD1_LONG_NUMBER_SPECIMEN)
    assert r.valid, r.problems
    assert r.document_number == "D23145890734" and r.optional_data == ""
    assert (r.surname, r.given_names) == ("STEVENSON", "PETER JOHN")
    assert r.sex == "M" and r.birth_date == date(1934, 7, 12)
    assert r.expiry_date == date(1995, 7, 12)
    # A wrong overflow check digit is caught.
    bad = list(TD1_LONG_NUMBER_SPECIMEN)
    bad[0] = bad[0][:18] + "3" + bad[0][19:]
    assert not parse(tuple(bad), repair=False).checks["document_number"]


def test_td2_specimen() -> None:
    r = parse(TD2_SPECIMEN)
    assert r.valid and r.document_type is MrzFormat.TD2
    assert r.document_number == "D23145890" and r.composite_ok


def test_mrv_specimens() -> None:
    a = parse(MRVA_SPECIMEN)
    assert a.valid and a.document_type is MrzFormat.MRV_A and a.composite_ok is None
    assert a.document_number == "L8988901C" and a.nationality == "XXX"
    assert a.birth_date == date(1940, 9, 7) and a.expiry_date == date(1996, 12, 10)
    b = parse(MRVB_SPECIMEN)
    assert b.valid and b.document_type is MrzFormat.MRV_B and "composite" not in b.checks


def test_specimen_country_refused_unless_allowed() -> None:
    r = parse_mrz(TD3_SPECIMEN, today=TODAY)
    assert not r.valid and "issuing_country_unknown" in r.problems
    assert r.reason == DOCUMENT_UNREADABLE


def test_text_input_with_newlines_and_spaces() -> None:
    r = parse("\n p<utoeriksson<<anna<maria<<<<<<<<<<<<<<<<<<< \n" + TD3_SPECIMEN[1] + "\n")
    assert r.valid


@pytest.mark.parametrize("bad", [
    "", "HELLO", ("P<UTO", "L898"), (TD3_SPECIMEN[0], TD3_SPECIMEN[1][:-1]),
    (*TD3_SPECIMEN, TD3_SPECIMEN[1]),
])
def test_malformed_is_document_unreadable(bad: object) -> None:
    with pytest.raises(MrzError) as exc:
        parse(bad)  # type: ignore[arg-type]
    assert exc.value.reason == DOCUMENT_UNREADABLE


def test_wrong_check_digit_is_checksum_failed() -> None:
    line2 = TD3_SPECIMEN[1][:19] + "3" + TD3_SPECIMEN[1][20:]
    r = parse((TD3_SPECIMEN[0], line2))
    assert not r.valid and r.checks["birth_date"] is False and r.birth_date is None
    assert r.reason == MRZ_CHECKSUM_FAILED
    with pytest.raises(MrzError) as exc:
        r.raise_if_invalid()
    assert exc.value.reason == MRZ_CHECKSUM_FAILED
    assert "7408" not in str(exc.value)  # no personal data in the error


def test_composite_failure_alone_is_caught() -> None:
    line2 = TD3_SPECIMEN[1][:-1] + "1"
    r = parse((TD3_SPECIMEN[0], line2), repair=False)
    assert r.composite_ok is False and not r.valid and r.reason == MRZ_CHECKSUM_FAILED


def test_ocr_confusions_repaired_when_check_digits_confirm() -> None:
    # Numeric fields: letters for digits are type errors, mapped, then confirmed.
    line2 = "L898902C36UTO74O8I2ZF12O4I59ZE184226B<<<<<1O"
    r = parse((TD3_SPECIMEN[0], line2))
    assert r.valid, r.problems
    assert r.birth_date == date(1974, 8, 12) and r.expiry_date == date(2012, 4, 15)
    assert all(rep.confirmed for rep in r.repairs if rep.field != "name")
    assert r.lines[1] == TD3_SPECIMEN[1]
    # Alphanumeric document number: "0" read as "O" is found by the check digit.
    r = parse((TD3_SPECIMEN[0], "L8989O2C36" + TD3_SPECIMEN[1][10:]))
    assert r.valid and r.document_number == "L898902C3"
    assert [(x.read, x.repaired) for x in r.repairs] == [("O", "0")]
    # Country and name fields: digits mapped to letters, flagged as not confirmed.
    r = parse(("P<UT0ERIK5SON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", TD3_SPECIMEN[1]))
    assert r.valid and r.issuing_country == "UTO" and r.surname == "ERIKSSON"
    assert r.name_repaired and not any(x.confirmed for x in r.repairs)


def test_repair_never_guesses_between_candidates() -> None:
    # "LB98902C3" fails its check digit and three one-character repairs pass it (L898902C3,
    # LB9B902C3, LB9890ZC3): the parser must not pick one.
    r = parse((TD3_SPECIMEN[0], "LB98902C36" + TD3_SPECIMEN[1][10:]))
    assert not r.valid and r.checks["document_number"] is False
    assert "document_number_check_failed" in r.problems and r.reason == MRZ_CHECKSUM_FAILED


def test_repair_disabled_keeps_reading() -> None:
    line2 = "LB98902C36" + TD3_SPECIMEN[1][10:]
    r = parse((TD3_SPECIMEN[0], line2), repair=False)
    assert not r.valid and not r.checks["document_number"]


def test_optional_field_all_filler_check_digit() -> None:
    lines = build_mrz(MrzFormat.TD3, document_code="P", issuing_country="D",
                      document_number="C01X00T47", surname="MUSTERMANN", given_names="ERIKA",
                      nationality="D", birth_date=date(1983, 8, 12), sex="F",
                      expiry_date=date(2027, 10, 31))
    assert lines[1][42] == "<"
    r = parse_mrz(lines, today=TODAY)
    assert r.valid and r.issuing_country == "D" and r.personal_number == ""
    zero = (lines[0], lines[1][:42] + "0" + lines[1][43])
    assert parse_mrz(zero, today=TODAY).checks["personal_number"]


def test_century_inference() -> None:
    assert birth_date_from_yymmdd("991231", TODAY) == date(1999, 12, 31)
    assert birth_date_from_yymmdd("251231", TODAY) == date(2025, 12, 31)
    assert birth_date_from_yymmdd("260102", TODAY) == date(1926, 1, 2)  # never in the future
    assert birth_date_from_yymmdd("260101", TODAY) == date(2026, 1, 1)
    assert expiry_date_from_yymmdd("300101", TODAY) == date(2030, 1, 1)
    assert expiry_date_from_yymmdd("460101", TODAY) == date(2046, 1, 1)  # +20 years
    assert expiry_date_from_yymmdd("470101", TODAY) == date(1947, 1, 1)
    assert expiry_date_from_yymmdd("950101", TODAY) == date(1995, 1, 1)
    assert expiry_date_from_yymmdd("950101", date(2090, 1, 1)) == date(2095, 1, 1)
    assert expiry_date_from_yymmdd("991332", TODAY) is None


def test_invalid_calendar_dates_fail() -> None:
    dob = "740231"  # 31 February
    line2 = TD3_SPECIMEN[1][:13] + dob + check_digit(dob) + TD3_SPECIMEN[1][20:]
    r = parse((TD3_SPECIMEN[0], line2))
    assert not r.valid and not r.checks["birth_date"]


def test_unknown_birth_date_parts() -> None:
    lines = build_mrz(MrzFormat.TD3, document_code="P", issuing_country="GBR",
                      document_number="123456789", surname="DOE", given_names="",
                      nationality="GBR", birth_date="74<<<<", sex="<",
                      expiry_date=date(2030, 1, 1))
    r = parse_mrz(lines, today=TODAY)
    assert r.valid and r.birth_date is None and r.sex == "<" and r.given_names == ""


def test_sex_and_codes() -> None:
    bad = (TD3_SPECIMEN[0], TD3_SPECIMEN[1][:20] + "Q" + TD3_SPECIMEN[1][21:])
    assert "sex_invalid" in parse(bad).problems
    assert len(ISO_3166_ALPHA3) == 249
    for code in ("D", "GBD", "GBN", "GBO", "GBP", "GBS", "UNO", "UNA", "UNK", "XXA", "XXB",
                 "XXC", "XXX", "EUE", "XOM", "XPO", "XCC", "XES", "XMP", "RKS", "ZIM"):
        assert code in ICAO_SPECIAL_CODES and is_known_code(code)
    assert not is_known_code("UTO") and is_known_code("UTO", allow_specimen=True)
    assert not is_known_code("ABC")


def test_wrong_document_code_for_format() -> None:
    line1 = "I" + TD3_SPECIMEN[0][1:]
    assert "document_code_invalid" in parse((line1, TD3_SPECIMEN[1])).problems


def test_build_roundtrip_all_formats() -> None:
    common = dict(issuing_country="FRA", surname="DE LA CRUZ-O'NEIL", given_names="JOSÉ ÅSA",
                  nationality="FRA", birth_date=date(1990, 2, 28), sex="X",
                  expiry_date=date(2031, 6, 30))
    for fmt, code in ((MrzFormat.TD1, "ID"), (MrzFormat.TD2, "I"), (MrzFormat.TD3, "P"),
                      (MrzFormat.MRV_A, "V"), (MrzFormat.MRV_B, "V")):
        lines = build_mrz(fmt, document_code=code, document_number="X12345", **common)
        r = parse_mrz(lines, today=TODAY)
        assert r.valid, (fmt, r.problems)
        assert (r.surname, r.given_names) == ("DE LA CRUZ ONEIL", "JOSE AASA")
        assert r.document_number == "X12345" and r.sex == "X"


def test_td2_long_document_number() -> None:
    lines = build_mrz(MrzFormat.TD2, document_code="I", issuing_country="FRA",
                      document_number="AB1234567890", surname="X", given_names="Y",
                      nationality="FRA", birth_date=date(1990, 1, 1), sex="M",
                      expiry_date=date(2030, 1, 1), optional_data="Z9")
    r = parse_mrz(lines, today=TODAY)
    assert r.valid and r.document_number == "AB1234567890" and r.optional_data == "Z9"
