"""Fake explorers for tests, local runs and load tests: Etherscan API v2, Sourcify API v2 and Blockscout API v2.

`shapes` says which shape an address has and so which explorer verifies it; `corpus` holds the contract at
each address; `etherscan_api`, `sourcify_api` and `blockscout_api` answer in each explorer's format; `app`
serves them with shared latency, faults, rate limits and counters; `server` runs it.
"""

from .app import FakeConfig, create_app
from .corpus import Contract, contract_of, expected_files
from .etherscan_api import getsourcecode_answer
from .server import explorer_urls, main, running, stats
from .shapes import (
    ELSEWHERE_SHAPES,
    ERROR_SHAPES,
    ETHERSCAN_SHAPES,
    SHAPES,
    address_with_shape,
    form_of,
    implementation_of,
    shape_of,
    verifier_of,
)

__all__ = [
    "ELSEWHERE_SHAPES",
    "ERROR_SHAPES",
    "ETHERSCAN_SHAPES",
    "SHAPES",
    "Contract",
    "FakeConfig",
    "address_with_shape",
    "contract_of",
    "create_app",
    "expected_files",
    "explorer_urls",
    "form_of",
    "getsourcecode_answer",
    "implementation_of",
    "main",
    "running",
    "shape_of",
    "stats",
    "verifier_of",
]
