"""`python -m ethsource_local.fake_etherscan`: serve the fake explorers (see .server for the options)."""

from .server import main

main()
