"""The `ethsource` command: the fake Etherscan takes its own options (docs/deployment.md); usage errors exit 64."""

from __future__ import annotations

import pytest

from ethsource.cli import main


def test_fake_etherscan_takes_its_own_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fake-etherscan", "--port", "8545", "--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert "--latency-ms" in usage and "--rate-limit" in usage


@pytest.mark.parametrize("argv", [["openapi", "--latency-ms", "5"], ["get", "--chain-id", "one", "0x1"]])
def test_a_usage_error_exits_64_not_the_2_of_an_unreachable_service(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 64
    assert "error:" in capsys.readouterr().err
