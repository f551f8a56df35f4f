"""The bit positions of research preferences are stored data: they must name the catalog's
codes exactly, and a new catalog code must be appended to them (never inserted)."""

from consent_api import catalog
from consent_api.orgs.types import DATA_ORG_TYPES
from consent_api.research import codes


def test_the_positions_name_every_code_of_the_catalog_once():
    assert sorted(codes.PURPOSES) == sorted(catalog.PURPOSES)
    assert sorted(codes.DATA_CATEGORIES) == sorted(catalog.CATEGORIES)
    assert sorted(codes.ORG_TYPES) == sorted(DATA_ORG_TYPES)


def test_a_mask_reads_back_as_the_codes_it_was_made_of():
    chosen = ["genomics", "lab_results", "demographics"]
    bits = codes.mask(chosen, codes.DATA_CATEGORIES)
    assert codes.unmask(bits, codes.DATA_CATEGORIES) == ["demographics", "lab_results", "genomics"]
    assert bits < 2**63  # fits the BIGINT column
