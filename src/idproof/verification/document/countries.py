"""Country and organisation codes allowed in an MRZ: ISO 3166-1 alpha-3 plus ICAO Doc 9303 codes."""

from __future__ import annotations

# ISO 3166-1 alpha-3, officially assigned codes (249).
_ISO_3166_ALPHA3_TEXT = """
ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR
BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG
COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH
FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY
HKG HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM
KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL
MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR
NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU
SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA
TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB
VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
"""
ISO_3166_ALPHA3: frozenset[str] = frozenset(_ISO_3166_ALPHA3_TEXT.split())

# Codes that Doc 9303 part 3 adds for states, nationalities and organisations that ISO 3166-1
# does not cover (or covers differently, like Germany's one-letter "D").
ICAO_SPECIAL_CODES: dict[str, str] = {
    "D": "Germany",
    "EUE": "European Union",
    "GBD": "British Overseas Territories Citizen",
    "GBN": "British National (Overseas)",
    "GBO": "British Overseas Citizen",
    "GBP": "British Protected Person",
    "GBS": "British Subject",
    "UNO": "United Nations Organization or one of its officials",
    "UNA": "Specialized agency of the United Nations or one of its officials",
    "UNK": "Resident of Kosovo with a travel document issued by UNMIK",
    "RKS": "Kosovo",
    "XBA": "African Development Bank",
    "XIM": "African Export-Import Bank",
    "XCC": "Caribbean Community or one of its emissaries",
    "XCE": "Council of Europe",
    "XCO": "Common Market for Eastern and Southern Africa",
    "XEC": "Economic Community of West African States",
    "XES": "Organisation of Eastern Caribbean States",
    "XMP": "Parliamentary Assembly of the Mediterranean",
    "XOM": "Sovereign Military Order of Malta or one of its emissaries",
    "XPO": "International Criminal Police Organization (INTERPOL)",
    "XDC": "Southern African Development Community",
    "XXA": "Stateless person (1954 Convention)",
    "XXB": "Refugee (1951 Convention and 1967 Protocol)",
    "XXC": "Refugee (other than under the 1951 Convention)",
    "XXX": "Person of unspecified nationality",
    "ZIM": "Zimbabwe (code in use on Zimbabwean documents)",
}

# Codes no longer assigned that still appear on documents in circulation or in archives.
TRANSITIONAL_CODES: dict[str, str] = {
    "ANT": "Netherlands Antilles",
    "NTZ": "Neutral Zone",
    "SCG": "Serbia and Montenegro",
    "YUG": "Yugoslavia",
}

# The fictional state of Doc 9303's specimens; accepted only when the caller asks for it, so
# that a specimen can never pass as a real document.
SPECIMEN_CODE = "UTO"

MRZ_CODES: frozenset[str] = ISO_3166_ALPHA3 | frozenset(ICAO_SPECIAL_CODES) | frozenset(
    TRANSITIONAL_CODES)


def is_known_code(code: str, *, allow_specimen: bool = False) -> bool:
    """Whether `code` (fillers already stripped) may stand in an MRZ country field."""
    if allow_specimen and code == SPECIMEN_CODE:
        return True
    return code in MRZ_CODES
