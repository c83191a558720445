"""The `ethsource` command passes the fake Etherscan's options on as the README shows them."""

from __future__ import annotations

import pytest

from ethsource_local.cli import main


def test_fake_etherscan_takes_its_own_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fake-etherscan", "--port", "8545", "--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert "--latency-ms" in usage and "--rate-limit" in usage


def test_other_commands_refuse_options_they_do_not_have(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["openapi", "--latency-ms", "5"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --latency-ms 5" in capsys.readouterr().err
