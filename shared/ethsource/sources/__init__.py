"""A contract's source tree: parsed from a provider's answer, with paths that cannot leave the archive.

`parse_item` reads Etherscan's answer (`ethsource.sourcify` and `ethsource.blockscout` read the others); every
parser yields the same `ContractSource`, which renders as the download's zip or JSON and as the stored blob.
"""

from .archive import compress, decompress, to_json, to_zip, with_implementation
from .etherscan import NOT_VERIFIED_ABI, parse_item
from .model import ContractSource, ProviderError, SourceError
from .tree import safe_path

__all__ = [
    "NOT_VERIFIED_ABI",
    "ContractSource",
    "ProviderError",
    "SourceError",
    "compress",
    "decompress",
    "parse_item",
    "safe_path",
    "to_json",
    "to_zip",
    "with_implementation",
]
