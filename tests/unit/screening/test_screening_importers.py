"""The list importers on sample files in each list's real format, and on broken files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from idproof.screening.importers import ListFormatError, parse, parse_date

DATA = Path(__file__).parents[2] / "data" / "screening"
FILES = {"ofac": "sdn.xml", "un": "un_consolidated.xml", "eu": "eu_fsf.xml",
         "uk": "ConList.csv", "opensanctions": "entities.ftm.json"}


def entries(source: str, data: bytes | None = None) -> list:  # type: ignore[type-arg]
    raw = data if data is not None else (DATA / FILES[source]).read_bytes()
    return list(parse(source, io.BytesIO(raw)))


def test_ofac_sdn() -> None:
    got = {e.entry_id: e for e in entries("ofac")}
    assert set(got) == {"90001", "90002", "90003"}
    p = got["90001"]
    assert p.kind == "person" and p.gender == "male"
    assert p.names[0] == "Ivor Dmitrievich KASPAROVSKY"
    assert "Igor KASPAROVSKI" in p.names and "Каспаровский Игорь" in p.names
    assert p.birth_dates == ("1961-03-04",) and p.countries == ("ru",)
    assert got["90002"].birth_dates == ("1972", "1973") and got["90002"].countries == ("sy",)
    assert got["90003"].kind == "entity"


def test_un_consolidated() -> None:
    got = {e.entry_id: e for e in entries("un")}
    p = got["7100001"]
    assert p.names[0] == "HAMID YUSUF AL-BARRANI" and "حميد يوسف البراني" in p.names
    assert p.birth_dates == ("1969-11-21",) and p.countries == ("ye",)
    assert got["7100002"].birth_dates == ("1980",) and got["7100002"].countries == ("kp",)
    assert got["7200001"].kind == "entity"


def test_eu_fsf() -> None:
    got = {e.entry_id: e for e in entries("eu")}
    p = got["880001"]
    assert p.kind == "person" and p.gender == "female" and p.countries == ("ru",)
    assert "Елена Павловна Зоркина" in p.names and p.birth_dates == ("1975-08-19",)
    assert got["880002"].birth_dates == ("1966",)
    assert got["880003"].kind == "entity"


def test_uk_conlist_groups_rows() -> None:
    got = {e.entry_id: e for e in entries("uk")}
    p = got["15001"]
    assert p.names == ("Adaeze Chinwe OKONKWO-BRIGHT", "Adaeze OKONKWO")
    assert p.countries == ("ng", "gb") and p.birth_dates == ("1983-07-12",)
    assert got["15002"].birth_dates == ("1958",)
    assert "Аркадий Семёнович Белоусов" in got["15002"].names
    assert got["15003"].kind == "entity"


def test_opensanctions_ftm_skips_other_schemas() -> None:
    got = {e.entry_id: e for e in entries("opensanctions")}
    assert set(got) == {"Q-fict-0001", "NK-fict-0002", "NK-fict-0003"}
    assert got["Q-fict-0001"].topics == ("role.pep",)
    assert got["NK-fict-0002"].birth_dates == ("1979-05",)


@pytest.mark.parametrize("source", list(FILES))
def test_truncated_file_is_refused(source: str) -> None:
    raw = (DATA / FILES[source]).read_bytes()
    cut = raw[: int(len(raw) * 0.6)]
    with pytest.raises(ListFormatError):
        entries(source, cut)


@pytest.mark.parametrize("source", list(FILES))
def test_empty_or_foreign_file_is_refused(source: str) -> None:
    for data in (b"", b"hello\n"):
        with pytest.raises(ListFormatError):
            entries(source, data)


def test_wrong_format_is_refused() -> None:
    with pytest.raises(ListFormatError, match="root element"):
        entries("un", (DATA / "sdn.xml").read_bytes())


def test_entities_are_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE sdnList [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;">]><sdnList><sdnEntry><uid>1</uid>'
            b"<lastName>&b;</lastName></sdnEntry></sdnList>")
    with pytest.raises(ListFormatError, match="DTD"):
        entries("ofac", bomb)
    external = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1/">]>'
                b"<sdnList>&e;</sdnList>")
    with pytest.raises(ListFormatError):
        entries("ofac", external)


def test_record_count_mismatch_is_refused() -> None:
    raw = (DATA / "sdn.xml").read_bytes().replace(b"<Record_Count>3<", b"<Record_Count>4<")
    with pytest.raises(ListFormatError) as exc:
        entries("ofac", raw)
    assert exc.value.code == "list_incomplete"


def test_duplicate_ids_and_missing_names_are_refused() -> None:
    line = b'{"id": "x1", "schema": "Person", "properties": {"name": ["A B"]}}\n'
    with pytest.raises(ListFormatError) as exc:
        entries("opensanctions", line * 2)
    assert exc.value.code == "list_entry_duplicate"
    with pytest.raises(ListFormatError) as exc:
        entries("opensanctions", b'{"id": "x1", "schema": "Person", "properties": {}}\n')
    assert exc.value.code == "list_entry_invalid"


def test_control_characters_in_list_names_are_cleaned() -> None:
    line = ('{"id": "x1", "schema": "Person", '
            '"properties": {"name": ["Ann\\u0000a\\u200b B\\u0007"]}}\n')
    (e,) = entries("opensanctions", line.encode())
    assert e.names == ("Ann a B",)


def test_error_details_carry_no_names() -> None:
    raw = (DATA / "entities.ftm.json").read_bytes()
    with pytest.raises(ListFormatError) as exc:
        entries("opensanctions", raw[:300])
    assert "Wielgosz" not in exc.value.detail


@pytest.mark.parametrize(("text", "iso"), [
    ("04 Mar 1961", "1961-03-04"), ("1961", "1961"), ("circa 1961", "1961"),
    ("Mar 1961", "1961-03"), ("12/07/1983", "1983-07-12"), ("00/00/1958", "1958"),
    ("00/05/1958", "1958-05"), ("1958 to 1960", "1958"), ("1979-05", "1979-05"), ("", None),
    ("unknown", None)])
def test_parse_date(text: str, iso: str | None) -> None:
    assert parse_date(text) == iso
