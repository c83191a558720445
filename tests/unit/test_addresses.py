import pytest

from ethsource.addresses import parse_address, parse_chain, to_checksum
from ethsource.errors import InvalidInput

USDT = "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def test_checksum_matches_eip55_reference_vectors():
    # Vectors from the EIP-55 specification.
    for address in ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"):
        assert to_checksum(address.lower()) == address


@pytest.mark.parametrize("raw", [USDT.lower(), "0x" + USDT[2:].upper(), USDT])
def test_any_case_is_accepted_and_checksummed(raw):
    assert parse_address(raw) == USDT


@pytest.mark.parametrize("raw", ["", "0x", "dAC17F958D2ee523a2206206994597C13D831ec7", USDT + "0", USDT[:-1],
                                 "0xZZC17F958D2ee523a2206206994597C13D831ec7", 12, None, " " + USDT])
def test_malformed_address_is_refused_as_malformed(raw):
    with pytest.raises(InvalidInput) as error:
        parse_address(raw)
    assert error.value.code == "malformed_address"


def test_mixed_case_with_a_wrong_checksum_is_refused_naming_the_right_one():
    wrong = USDT.replace("dAC", "Dac")
    with pytest.raises(InvalidInput) as error:
        parse_address(wrong)
    assert error.value.code == "bad_checksum"
    assert USDT in error.value.message


def test_unsupported_chain_is_refused_and_supported_ones_pass():
    assert parse_chain(8453, {1, 8453}) == 8453
    with pytest.raises(InvalidInput) as error:
        parse_chain(424242, {1, 8453})
    assert error.value.code == "unsupported_chain"
    assert "424242" in error.value.message
