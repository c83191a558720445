"""Deterministic contracts for the fake Etherscan.

Every address maps to one answer, derived only from its lowercased 40 hex chars (and the
chain id, which goes into a source comment), so tests and load runs can rely on what an
address returns without storing anything. The encodings of ``SourceCode`` follow the real
captured answers: plain text, a single-brace JSON object of files, or standard-JSON input
wrapped in double braces with CRLF line endings.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from itertools import count, islice
from string import Template

from ethsource.addresses import to_checksum

VERIFIED_SHAPES = (
    "solidity_single",
    "solidity_multi",
    "solidity_standard_json",
    "vyper_single",
    "vyper_standard_json",
    "unverified",
    "proxy",
)
ERROR_SHAPES = ("invalid_address", "etherscan_error")
SHAPES = VERIFIED_SHAPES + ERROR_SHAPES

# Implementations behind a proxy are verified Solidity contracts, never proxies themselves.
_IMPLEMENTATION_SHAPES = ("solidity_single", "solidity_multi", "solidity_standard_json")
_ERROR_PREFIXES = {"bad0": "invalid_address", "e770": "etherscan_error"}

INVALID_ADDRESS_ANSWER = {"status": "0", "message": "NOTOK", "result": "Error! Invalid address format"}
SOURCE_UNAVAILABLE_ANSWER = {
    "status": "0",
    "message": "NOTOK",
    "result": "Error! Contract source code unavailable",
}
UNVERIFIED_ITEM = {
    "SourceCode": "",
    "ABI": "Contract source code not verified",
    "ContractName": "",
    "CompilerVersion": "",
    "OptimizationUsed": "",
    "Runs": "",
    "ConstructorArguments": "",
    "EVMVersion": "Default",
    "Library": "",
    "LicenseType": "Unknown",
    "Proxy": "0",
    "Implementation": "",
    "SwarmSource": "",
}

ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


# --- addresses -------------------------------------------------------------------------


def _hex40(address: str) -> str:
    if not ADDRESS_RE.fullmatch(address):
        raise ValueError(f"not a 0x-prefixed 40-hex-digit address: {address!r}")
    return address[2:].lower()


def _digest(hex40: str, label: str = "") -> bytes:
    return hashlib.sha256(f"{label}{hex40}".encode()).digest()


def _derived(hex40: str, label: str) -> str:
    """A deterministic 40-hex address belonging to ``hex40`` (owner, library, implementation...)."""
    return _digest(hex40, label + ":").hex()[:40]


def shape_of(address: str) -> str:
    hex40 = _hex40(address)
    prefix_shape = _ERROR_PREFIXES.get(hex40[:4])
    if prefix_shape:
        return prefix_shape
    return VERIFIED_SHAPES[_digest(hex40)[0] % len(VERIFIED_SHAPES)]


@lru_cache(maxsize=4096)
def _implementation_hex(hex40: str) -> str:
    candidates = (_derived(hex40, f"implementation-{i}") for i in count())
    return next(c for c in candidates if shape_of("0x" + c) in _IMPLEMENTATION_SHAPES)


def implementation_of(address: str) -> str | None:
    """The lowercase implementation address behind a ``proxy``-shaped address, else None."""
    if shape_of(address) != "proxy":
        return None
    return "0x" + _implementation_hex(_hex40(address))


@lru_cache(maxsize=1024)
def address_with_shape(shape: str, n: int = 0) -> str:
    """The n-th address (in a fixed search order) whose shape is ``shape``, EIP-55 checksummed."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    # Error shapes live behind a prefix; hashing alone would almost never produce one.
    prefix = next((p for p, s in _ERROR_PREFIXES.items() if s == shape), "")
    seeds = (hashlib.sha256(f"ethsource-fake-etherscan:{i}".encode()).hexdigest() for i in count())
    candidates = ("0x" + prefix + seed[len(prefix) : 40] for seed in seeds)
    matching = (c for c in candidates if shape_of(c) == shape)
    return to_checksum(next(islice(matching, n, None)))


# --- ABI -------------------------------------------------------------------------------


def _param(type_: str, name: str, internal: str | None, indexed: bool | None = None) -> dict:
    param: dict = {}
    if indexed is not None:
        param["indexed"] = indexed
    if internal is not None:
        param["internalType"] = internal
    param["name"] = name
    param["type"] = type_
    return param


class _Abi:
    """Builds ABI entries; Solidity output carries ``internalType``, Vyper output does not."""

    def __init__(self, solidity: bool):
        self.solidity = solidity

    def _p(self, spec: str, indexed: bool | None = None) -> dict:
        # spec: "type name" or "type name internalType" (internalType defaults to type)
        type_, name, *internal = spec.split(" ", 2)
        return _param(type_, name, (internal[0] if internal else type_) if self.solidity else None, indexed)

    def constructor(self, *inputs: str, payable: bool = False) -> dict:
        mutability = "payable" if payable else "nonpayable"
        return {"inputs": [self._p(i) for i in inputs], "stateMutability": mutability, "type": "constructor"}

    def event(self, name: str, *inputs: str) -> dict:
        # a leading "!" marks an indexed argument
        params = [self._p(i.lstrip("!"), indexed=i.startswith("!")) for i in inputs]
        return {"anonymous": False, "inputs": params, "name": name, "type": "event"}

    def function(self, name: str, inputs=(), outputs=(), mutability: str = "nonpayable") -> dict:
        return {
            "inputs": [self._p(i) for i in inputs],
            "name": name,
            "outputs": [self._p(o) for o in outputs],
            "stateMutability": mutability,
            "type": "function",
        }


_SOL = _Abi(solidity=True)
_VY = _Abi(solidity=False)

_OWNABLE_ABI = [
    _SOL.function("owner", outputs=["address "], mutability="view"),
    _SOL.function("renounceOwnership"),
    _SOL.function("transferOwnership", ["address newOwner"]),
]
_OWNERSHIP_EVENT = _SOL.event("OwnershipTransferred", "!address previousOwner", "!address newOwner")

_TOKEN_ABI = [
    _SOL.constructor("address initialOwner", "uint256 initialSupply"),
    _SOL.event("Approval", "!address owner", "!address spender", "uint256 value"),
    _OWNERSHIP_EVENT,
    _SOL.event("Transfer", "!address from", "!address to", "uint256 value"),
    _SOL.function("MAX_SUPPLY", outputs=["uint256 "], mutability="view"),
    _SOL.function("allowance", ["address owner", "address spender"], ["uint256 "], "view"),
    _SOL.function("approve", ["address spender", "uint256 amount"], ["bool "]),
    _SOL.function("balanceOf", ["address account"], ["uint256 "], "view"),
    _SOL.function("burn", ["uint256 amount"]),
    _SOL.function("decimals", outputs=["uint8 "], mutability="view"),
    _SOL.function("mint", ["address to", "uint256 amount"]),
    _SOL.function("name", outputs=["string "], mutability="view"),
    *_OWNABLE_ABI[:2],
    _SOL.function("symbol", outputs=["string "], mutability="view"),
    _SOL.function("totalSupply", outputs=["uint256 "], mutability="view"),
    _SOL.function("transfer", ["address to", "uint256 amount"], ["bool "]),
    _SOL.function("transferFrom", ["address from", "address to", "uint256 amount"], ["bool "]),
    _OWNABLE_ABI[2],
]

_VAULT_ABI = [
    _SOL.constructor("address asset_ contract IERC20", "address initialOwner"),
    _SOL.event("Deposit", "!address account", "uint256 assets", "uint256 shares"),
    _OWNERSHIP_EVENT,
    _SOL.event("Paused", "bool paused"),
    _SOL.event("Withdraw", "!address account", "uint256 assets", "uint256 shares"),
    _SOL.function("asset", outputs=["address  contract IERC20"], mutability="view"),
    _SOL.function("deposit", ["uint256 assets"], ["uint256 shares"]),
    _OWNABLE_ABI[0],
    _SOL.function("paused", outputs=["bool "], mutability="view"),
    _SOL.function("previewDeposit", ["uint256 assets"], ["uint256 "], "view"),
    _SOL.function("previewWithdraw", ["uint256 shares"], ["uint256 "], "view"),
    _OWNABLE_ABI[1],
    _SOL.function("setPaused", ["bool paused_"]),
    _SOL.function("sharesOf", ["address "], ["uint256 "], "view"),
    _SOL.function("totalAssets", outputs=["uint256 "], mutability="view"),
    _SOL.function("totalShares", outputs=["uint256 "], mutability="view"),
    _OWNABLE_ABI[2],
    _SOL.function("withdraw", ["uint256 shares"], ["uint256 assets"]),
]

_PROXY_EVENTS = [
    _SOL.event("AdminChanged", "address previousAdmin", "address newAdmin"),
    _SOL.event("Upgraded", "!address implementation"),
]
_PROXY_TAIL = [{"stateMutability": "payable", "type": "fallback"}, {"stateMutability": "payable", "type": "receive"}]
_ERC1967_PROXY_ABI = [
    _SOL.constructor("address _logic", "bytes _data", payable=True),
    *_PROXY_EVENTS,
    *_PROXY_TAIL,
]
_TRANSPARENT_PROXY_ABI = [
    _SOL.constructor("address _logic", "address admin_", "bytes _data", payable=True),
    *_PROXY_EVENTS,
    *_PROXY_TAIL[:1],
    _SOL.function("admin", outputs=["address admin_"]),
    _SOL.function("changeAdmin", ["address newAdmin"]),
    _SOL.function("implementation", outputs=["address implementation_"]),
    _SOL.function("upgradeTo", ["address newImplementation"]),
    _SOL.function("upgradeToAndCall", ["address newImplementation", "bytes data"], mutability="payable"),
    *_PROXY_TAIL[1:],
]

_VYPER_TOKEN_ABI = [
    _VY.event("Transfer", "!address sender", "!address receiver", "uint256 value"),
    _VY.event("Approval", "!address owner", "!address spender", "uint256 value"),
    _VY.event("MinterChanged", "!address minter"),
    _VY.constructor("uint256 _supply", "address _minter"),
    _VY.function("transfer", ["address _to", "uint256 _value"], ["bool "]),
    _VY.function("transferFrom", ["address _from", "address _to", "uint256 _value"], ["bool "]),
    _VY.function("approve", ["address _spender", "uint256 _value"], ["bool "]),
    _VY.function("mint", ["address _to", "uint256 _value"], ["bool "]),
    _VY.function("burn", ["uint256 _value"], ["bool "]),
    _VY.function("set_minter", ["address _minter"]),
    _VY.function("name", outputs=["string "], mutability="view"),
    _VY.function("symbol", outputs=["string "], mutability="view"),
    _VY.function("decimals", outputs=["uint8 "], mutability="view"),
    _VY.function("balanceOf", ["address arg0"], ["uint256 "], "view"),
    _VY.function("allowance", ["address arg0", "address arg1"], ["uint256 "], "view"),
    _VY.function("totalSupply", outputs=["uint256 "], mutability="view"),
    _VY.function("minter", outputs=["address "], mutability="view"),
]

_RECEIVER_COMPONENTS = [_param("address", "addr", None), _param("uint256", "weight", None)]
_SPLITTER_ABI = [
    _VY.event("OwnershipTransferred", "!address previous_owner", "!address new_owner"),
    _VY.event("FeeDispatched", "!address receiver", "uint256 amount"),
    _VY.event("SetReceivers"),
    _VY.function("transfer_ownership", ["address new_owner"]),
    _VY.function("renounce_ownership"),
    _VY.function("owner", outputs=["address "], mutability="view"),
    {
        "inputs": [{"components": _RECEIVER_COMPONENTS, "name": "receivers", "type": "tuple[]"}],
        "name": "set_receivers",
        "outputs": [],
        "stateMutability": "nonpayable",
        "type": "function",
    },
    _VY.function("dispatch_fees"),
    _VY.function("n_receivers", outputs=["uint256 "], mutability="view"),
    _VY.function("token", outputs=["address "], mutability="view"),
    {
        "inputs": [_param("uint256", "arg0", None)],
        "name": "receivers",
        "outputs": [{"components": _RECEIVER_COMPONENTS, "name": "", "type": "tuple"}],
        "stateMutability": "view",
        "type": "function",
    },
    _VY.constructor("address _token", "address owner"),
]


def _abi_string(abi: list) -> str:
    return json.dumps(abi, separators=(",", ":"))


# --- Solidity sources --------------------------------------------------------------------

_CONTEXT = Template('''\
/**
 * @dev Provides information about the current execution context, including the
 * sender of the transaction and its data. While these are generally available
 * via msg.sender and msg.data, they should not be accessed in such a direct
 * manner, since when dealing with meta-transactions the account sending and
 * paying for execution may not be the actual sender (as far as an application
 * is concerned).
 *
 * This contract is only required for intermediate, library-like contracts.
 */
abstract contract Context {
    function _msgSender() internal view virtual returns (address) {
        return msg.sender;
    }

    function _msgData() internal view virtual returns (bytes calldata) {
        return msg.data;
    }

    function _contextSuffixLength() internal view virtual returns (uint256) {
        return 0;
    }
}
''')

_IERC20 = Template('''\
/**
 * @dev Interface of the ERC20 standard as defined in the EIP.
 */
interface IERC20 {
    /**
     * @dev Emitted when `value` tokens are moved from one account (`from`) to
     * another (`to`). Note that `value` may be zero.
     */
    event Transfer(address indexed from, address indexed to, uint256 value);

    /**
     * @dev Emitted when the allowance of a `spender` for an `owner` is set by
     * a call to {approve}. `value` is the new allowance.
     */
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /** @dev Returns the amount of tokens in existence. */
    function totalSupply() external view returns (uint256);

    /** @dev Returns the amount of tokens owned by `account`. */
    function balanceOf(address account) external view returns (uint256);

    /**
     * @dev Moves `amount` tokens from the caller's account to `to`.
     * Returns a boolean value indicating whether the operation succeeded.
     */
    function transfer(address to, uint256 amount) external returns (bool);

    /**
     * @dev Returns the remaining number of tokens that `spender` will be
     * allowed to spend on behalf of `owner` through {transferFrom}.
     */
    function allowance(address owner, address spender) external view returns (uint256);

    /** @dev Sets `amount` as the allowance of `spender` over the caller's tokens. */
    function approve(address spender, uint256 amount) external returns (bool);

    /**
     * @dev Moves `amount` tokens from `from` to `to` using the allowance
     * mechanism. `amount` is then deducted from the caller's allowance.
     */
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
}
''')

_ERC20 = Template('''\
/**
 * @dev Implementation of the {IERC20} interface, trimmed to what ${name} needs.
 */
contract ERC20 is Context, IERC20 {
    mapping(address => uint256) private _balances;
    mapping(address => mapping(address => uint256)) private _allowances;

    uint256 private _totalSupply;
    string private _name;
    string private _symbol;

    constructor(string memory name_, string memory symbol_) {
        _name = name_;
        _symbol = symbol_;
    }

    function name() public view returns (string memory) {
        return _name;
    }

    function symbol() public view returns (string memory) {
        return _symbol;
    }

    function decimals() public view returns (uint8) {
        return 18;
    }

    function totalSupply() public view override returns (uint256) {
        return _totalSupply;
    }

    function balanceOf(address account) public view override returns (uint256) {
        return _balances[account];
    }

    function transfer(address to, uint256 amount) public override returns (bool) {
        _transfer(_msgSender(), to, amount);
        return true;
    }

    function allowance(address owner, address spender) public view override returns (uint256) {
        return _allowances[owner][spender];
    }

    function approve(address spender, uint256 amount) public override returns (bool) {
        _approve(_msgSender(), spender, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) public override returns (bool) {
        uint256 currentAllowance = _allowances[from][_msgSender()];
        require(currentAllowance >= amount, "ERC20: insufficient allowance");
        _approve(from, _msgSender(), currentAllowance - amount);
        _transfer(from, to, amount);
        return true;
    }

    function _transfer(address from, address to, uint256 amount) internal {
        require(to != address(0), "ERC20: transfer to the zero address");
        require(_balances[from] >= amount, "ERC20: transfer amount exceeds balance");
        _balances[from] -= amount;
        _balances[to] += amount;
        emit Transfer(from, to, amount);
    }

    function _mint(address account, uint256 amount) internal {
        require(account != address(0), "ERC20: mint to the zero address");
        _totalSupply += amount;
        _balances[account] += amount;
        emit Transfer(address(0), account, amount);
    }

    function _burn(address account, uint256 amount) internal {
        require(_balances[account] >= amount, "ERC20: burn amount exceeds balance");
        _balances[account] -= amount;
        _totalSupply -= amount;
        emit Transfer(account, address(0), amount);
    }

    function _approve(address owner, address spender, uint256 amount) internal {
        _allowances[owner][spender] = amount;
        emit Approval(owner, spender, amount);
    }
}
''')

_OWNABLE = Template('''\
/**
 * @dev Contract module which provides a basic access control mechanism, where
 * there is an account (an owner) that can be granted exclusive access to
 * specific functions.
 *
 * By default, the owner account will be the one that deploys the contract. This
 * can later be changed with {transferOwnership}.
 */
abstract contract Ownable is Context {
    address private _owner;

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    constructor() {
        _transferOwnership(_msgSender());
    }

    modifier onlyOwner() {
        _checkOwner();
        _;
    }

    function owner() public view virtual returns (address) {
        return _owner;
    }

    function _checkOwner() internal view virtual {
        require(owner() == _msgSender(), "Ownable: caller is not the owner");
    }

    function renounceOwnership() public virtual onlyOwner {
        _transferOwnership(address(0));
    }

    function transferOwnership(address newOwner) public virtual onlyOwner {
        require(newOwner != address(0), "Ownable: new owner is the zero address");
        _transferOwnership(newOwner);
    }

    function _transferOwnership(address newOwner) internal virtual {
        address oldOwner = _owner;
        _owner = newOwner;
        emit OwnershipTransferred(oldOwner, newOwner);
    }
}
''')

_TOKEN = Template('''\
/**
 * @title ${name}
 * @notice ERC20 token with a hard supply cap. The owner may mint up to the cap;
 * any holder may burn their own tokens.
 * @dev The initial supply goes to `initialOwner`, who also becomes the owner.
 */
contract ${name} is ERC20, Ownable {
    uint256 public constant MAX_SUPPLY = ${cap} * 10 ** 18;

    constructor(address initialOwner, uint256 initialSupply) ERC20("${name}", "${symbol}") {
        require(initialSupply <= MAX_SUPPLY, "${name}: cap exceeded");
        _transferOwnership(initialOwner);
        _mint(initialOwner, initialSupply);
    }

    /// @notice Mints `amount` new tokens to `to`; only the owner may call it.
    function mint(address to, uint256 amount) external onlyOwner {
        require(totalSupply() + amount <= MAX_SUPPLY, "${name}: cap exceeded");
        _mint(to, amount);
    }

    /// @notice Destroys `amount` of the caller's tokens.
    function burn(uint256 amount) external {
        _burn(_msgSender(), amount);
    }
}
''')

_SAFE_MATH_LIB = Template('''\
/**
 * @title SafeMathLib
 * @dev Share-price arithmetic shared by the vaults. Its functions are `public`,
 * so the library is deployed once and linked into every vault that uses it.
 */
library SafeMathLib {
    function mulDiv(uint256 x, uint256 y, uint256 denominator) public pure returns (uint256) {
        require(denominator != 0, "SafeMathLib: division by zero");
        return (x * y) / denominator;
    }

    /// @dev Shares minted for `assets` when the vault holds `totalAssets` for `totalShares`.
    function toShares(uint256 assets, uint256 totalAssets, uint256 totalShares) public pure returns (uint256) {
        if (totalShares == 0 || totalAssets == 0) {
            return assets;
        }
        return mulDiv(assets, totalShares, totalAssets);
    }

    /// @dev Assets paid out for `shares` when the vault holds `totalAssets` for `totalShares`.
    function toAssets(uint256 shares, uint256 totalAssets, uint256 totalShares) public pure returns (uint256) {
        if (totalShares == 0) {
            return shares;
        }
        return mulDiv(shares, totalAssets, totalShares);
    }
}
''')

_VAULT = Template('''\
/**
 * @title ${name}
 * @notice Pools one ERC20 asset and issues shares against it.
 */
contract ${name} is Ownable {
    IERC20 public immutable asset;
    uint256 public totalShares;
    mapping(address => uint256) public sharesOf;
    bool public paused;

    event Deposit(address indexed account, uint256 assets, uint256 shares);
    event Withdraw(address indexed account, uint256 assets, uint256 shares);
    event Paused(bool paused);

    constructor(IERC20 asset_, address initialOwner) {
        asset = asset_;
        _transferOwnership(initialOwner);
    }

    function totalAssets() public view returns (uint256) {
        return asset.balanceOf(address(this));
    }

    function previewDeposit(uint256 assets) public view returns (uint256) {
        return SafeMathLib.toShares(assets, totalAssets(), totalShares);
    }

    function previewWithdraw(uint256 shares) public view returns (uint256) {
        return SafeMathLib.toAssets(shares, totalAssets(), totalShares);
    }

    function deposit(uint256 assets) external returns (uint256 shares) {
        require(!paused, "${name}: paused");
        shares = previewDeposit(assets);
        require(shares > 0, "${name}: zero shares");
        require(asset.transferFrom(msg.sender, address(this), assets), "${name}: transfer failed");
        totalShares += shares;
        sharesOf[msg.sender] += shares;
        emit Deposit(msg.sender, assets, shares);
    }

    function withdraw(uint256 shares) external returns (uint256 assets) {
        require(sharesOf[msg.sender] >= shares, "${name}: insufficient shares");
        assets = previewWithdraw(shares);
        sharesOf[msg.sender] -= shares;
        totalShares -= shares;
        require(asset.transfer(msg.sender, assets), "${name}: transfer failed");
        emit Withdraw(msg.sender, assets, shares);
    }

    function setPaused(bool paused_) external onlyOwner {
        paused = paused_;
        emit Paused(paused_);
    }
}
''')

_PROXY = Template('''\
/**
 * @dev This abstract contract provides a fallback function that delegates all calls to another contract using the EVM
 * instruction `delegatecall`. We refer to the second contract as the _implementation_ behind the proxy, and it has to
 * be specified by overriding the virtual {_implementation} function.
 */
abstract contract Proxy {
    /**
     * @dev Delegates the current call to `implementation`.
     * This function does not return to its internal call site, it will return directly to the external caller.
     */
    function _delegate(address implementation) internal virtual {
        assembly {
            calldatacopy(0, 0, calldatasize())
            let result := delegatecall(gas(), implementation, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch result
            case 0 {
                revert(0, returndatasize())
            }
            default {
                return(0, returndatasize())
            }
        }
    }

    /** @dev This is a virtual function that should be overridden so it returns the address to delegate to. */
    function _implementation() internal view virtual returns (address);

    function _fallback() internal virtual {
        _beforeFallback();
        _delegate(_implementation());
    }

    fallback() external payable virtual {
        _fallback();
    }

    receive() external payable virtual {
        _fallback();
    }

    /** @dev Hook that is called before falling back to the implementation. */
    function _beforeFallback() internal virtual {}
}
''')

_ADDRESS = Template('''\
/**
 * @dev Collection of functions related to the address type
 */
library Address {
    /**
     * @dev Returns true if `account` is a contract. It is unsafe to assume that an
     * address for which this function returns false is an externally-owned account.
     */
    function isContract(address account) internal view returns (bool) {
        return account.code.length > 0;
    }

    /**
     * @dev Replacement for Solidity's `transfer`: sends `amount` wei to
     * `recipient`, forwarding all available gas and reverting on errors.
     */
    function sendValue(address payable recipient, uint256 amount) internal {
        require(address(this).balance >= amount, "Address: insufficient balance");
        (bool success, ) = recipient.call{value: amount}("");
        require(success, "Address: unable to send value, recipient may have reverted");
    }

    /** @dev Same as a low-level `call`, but performing a delegate call. */
    function functionDelegateCall(address target, bytes memory data) internal returns (bytes memory) {
        return functionDelegateCall(target, data, "Address: low-level delegate call failed");
    }

    function functionDelegateCall(
        address target,
        bytes memory data,
        string memory errorMessage
    ) internal returns (bytes memory) {
        (bool success, bytes memory returndata) = target.delegatecall(data);
        return verifyCallResultFromTarget(target, success, returndata, errorMessage);
    }

    function verifyCallResultFromTarget(
        address target,
        bool success,
        bytes memory returndata,
        string memory errorMessage
    ) internal view returns (bytes memory) {
        if (success) {
            if (returndata.length == 0) {
                require(isContract(target), "Address: call to non-contract");
            }
            return returndata;
        }
        _revert(returndata, errorMessage);
    }

    function _revert(bytes memory returndata, string memory errorMessage) private pure {
        if (returndata.length > 0) {
            assembly {
                let returndata_size := mload(returndata)
                revert(add(32, returndata), returndata_size)
            }
        }
        revert(errorMessage);
    }
}
''')

_ERC1967_UPGRADE = Template('''\
/**
 * @dev This abstract contract provides getters and event emitting update functions for
 * https://eips.ethereum.org/EIPS/eip-1967[EIP1967] slots.
 */
abstract contract ERC1967Upgrade {
    /** @dev keccak-256 hash of "eip1967.proxy.implementation" subtracted by 1. */
    bytes32 internal constant _IMPLEMENTATION_SLOT = 0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;

    /** @dev keccak-256 hash of "eip1967.proxy.admin" subtracted by 1. */
    bytes32 internal constant _ADMIN_SLOT = 0xb53127684a568b3173ae13b9f8a6016e243e63b6e8ee1178d6a717850b5d6103;

    event Upgraded(address indexed implementation);

    event AdminChanged(address previousAdmin, address newAdmin);

    function _getImplementation() internal view returns (address impl) {
        bytes32 slot = _IMPLEMENTATION_SLOT;
        assembly {
            impl := sload(slot)
        }
    }

    function _setImplementation(address newImplementation) private {
        require(Address.isContract(newImplementation), "ERC1967: new implementation is not a contract");
        bytes32 slot = _IMPLEMENTATION_SLOT;
        assembly {
            sstore(slot, newImplementation)
        }
    }

    function _upgradeTo(address newImplementation) internal {
        _setImplementation(newImplementation);
        emit Upgraded(newImplementation);
    }

    function _upgradeToAndCall(address newImplementation, bytes memory data, bool forceCall) internal {
        _upgradeTo(newImplementation);
        if (data.length > 0 || forceCall) {
            Address.functionDelegateCall(newImplementation, data);
        }
    }

    function _getAdmin() internal view returns (address adm) {
        bytes32 slot = _ADMIN_SLOT;
        assembly {
            adm := sload(slot)
        }
    }

    function _changeAdmin(address newAdmin) internal {
        require(newAdmin != address(0), "ERC1967: new admin is the zero address");
        emit AdminChanged(_getAdmin(), newAdmin);
        bytes32 slot = _ADMIN_SLOT;
        assembly {
            sstore(slot, newAdmin)
        }
    }
}
''')

_ERC1967_PROXY = Template('''\
/**
 * @dev This contract implements an upgradeable proxy. It is upgradeable because calls are delegated to an
 * implementation address that can be changed. This address is stored in storage in the location specified by
 * https://eips.ethereum.org/EIPS/eip-1967[EIP1967], so that it doesn't conflict with the storage layout of the
 * implementation behind the proxy.
 */
contract ERC1967Proxy is Proxy, ERC1967Upgrade {
    /**
     * @dev Initializes the upgradeable proxy with an initial implementation specified by `_logic`.
     *
     * If `_data` is nonempty, it's used as data in a delegate call to `_logic`. This will typically be an encoded
     * function call, and allows initializing the storage of the proxy like a Solidity constructor.
     */
    constructor(address _logic, bytes memory _data) payable {
        _upgradeToAndCall(_logic, _data, false);
    }

    /** @dev Returns the current implementation address. */
    function _implementation() internal view virtual override returns (address impl) {
        return ERC1967Upgrade._getImplementation();
    }
}
''')

_TRANSPARENT_PROXY = Template('''\
/**
 * @dev This contract implements a proxy that is upgradeable by an admin. Calls from the admin are never
 * delegated to the implementation; calls from anyone else always are, so the admin functions below cannot
 * clash with functions of the implementation.
 */
contract TransparentUpgradeableProxy is ERC1967Proxy {
    constructor(address _logic, address admin_, bytes memory _data) payable ERC1967Proxy(_logic, _data) {
        _changeAdmin(admin_);
    }

    /**
     * @dev Modifier used internally that will delegate the call to the implementation unless the sender is the admin.
     */
    modifier ifAdmin() {
        if (msg.sender == _getAdmin()) {
            _;
        } else {
            _fallback();
        }
    }

    function admin() external ifAdmin returns (address admin_) {
        admin_ = _getAdmin();
    }

    function implementation() external ifAdmin returns (address implementation_) {
        implementation_ = _implementation();
    }

    function changeAdmin(address newAdmin) external virtual ifAdmin {
        _changeAdmin(newAdmin);
    }

    function upgradeTo(address newImplementation) external ifAdmin {
        _upgradeToAndCall(newImplementation, bytes(""), false);
    }

    function upgradeToAndCall(address newImplementation, bytes calldata data) external payable ifAdmin {
        _upgradeToAndCall(newImplementation, data, true);
    }

    /** @dev Makes sure the admin cannot access the fallback function. */
    function _beforeFallback() internal virtual override {
        require(msg.sender != _getAdmin(), "TransparentUpgradeableProxy: admin cannot fallback to proxy target");
        super._beforeFallback();
    }
}
''')

_OZ = "@openzeppelin/contracts/"
# path -> (OpenZeppelin origin line or None, pragma, imports, body)
_SOLIDITY_UNITS: dict[str, tuple[str | None, str, tuple[str, ...], Template]] = {
    _OZ + "utils/Context.sol": ("utils/Context.sol", "^0.8.0", (), _CONTEXT),
    _OZ + "utils/Address.sol": ("utils/Address.sol", "^0.8.1", (), _ADDRESS),
    _OZ + "token/ERC20/IERC20.sol": ("token/ERC20/IERC20.sol", "^0.8.0", (), _IERC20),
    _OZ + "access/Ownable.sol": ("access/Ownable.sol", "^0.8.0", ("../utils/Context.sol",), _OWNABLE),
    _OZ + "proxy/Proxy.sol": ("proxy/Proxy.sol", "^0.8.0", (), _PROXY),
    _OZ + "proxy/ERC1967/ERC1967Upgrade.sol": (
        "proxy/ERC1967/ERC1967Upgrade.sol",
        "^0.8.2",
        ("../../utils/Address.sol",),
        _ERC1967_UPGRADE,
    ),
    _OZ + "proxy/ERC1967/ERC1967Proxy.sol": (
        "proxy/ERC1967/ERC1967Proxy.sol",
        "^0.8.0",
        ("../Proxy.sol", "./ERC1967Upgrade.sol"),
        _ERC1967_PROXY,
    ),
    _OZ + "proxy/transparent/TransparentUpgradeableProxy.sol": (
        "proxy/transparent/TransparentUpgradeableProxy.sol",
        "^0.8.0",
        ("../ERC1967/ERC1967Proxy.sol",),
        _TRANSPARENT_PROXY,
    ),
    "contracts/token/ERC20.sol": (
        None,
        "^0.8.0",
        (_OZ + "token/ERC20/IERC20.sol", _OZ + "utils/Context.sol"),
        _ERC20,
    ),
    "contracts/libraries/SafeMathLib.sol": (None, "^0.8.0", (), _SAFE_MATH_LIB),
}

# Dependencies in the order a flattener would emit them; the main contract comes last.
_TOKEN_DEPS = (
    _OZ + "utils/Context.sol",
    _OZ + "token/ERC20/IERC20.sol",
    "contracts/token/ERC20.sol",
    _OZ + "access/Ownable.sol",
)
_VAULT_DEPS = (
    _OZ + "utils/Context.sol",
    _OZ + "token/ERC20/IERC20.sol",
    _OZ + "access/Ownable.sol",
    "contracts/libraries/SafeMathLib.sol",
)
_TOKEN_IMPORTS = ("./token/ERC20.sol", _OZ + "access/Ownable.sol")
_VAULT_IMPORTS = (_OZ + "token/ERC20/IERC20.sol", _OZ + "access/Ownable.sol", "./libraries/SafeMathLib.sol")

_TOKEN_NAMES = (("AcmeToken", "ACME"), ("NebulaToken", "NEB"), ("HarborCoin", "HBR"), ("QuartzToken", "QTZ"))
_VAULT_NAMES = ("YieldVault", "TreasuryVault", "RewardVault", "StakingVault")
_SOLC_VERSIONS = (
    ("v0.8.19+commit.7dd6d404", "paris"),
    ("v0.8.20+commit.a1b79de6", "shanghai"),
    ("v0.8.21+commit.d9974bed", "shanghai"),
    ("v0.8.24+commit.e11b9ed9", "cancun"),
)
# (SPDX identifier, Etherscan LicenseType)
_LICENSES = (("MIT", "MIT"), ("MIT", "MIT"), ("GPL-3.0-or-later", "GNU GPLv3"), ("UNLICENSED", "None"))
_RUNS = ("200", "1000", "10000", "999999")
_OUTPUT_SELECTION = ["evm.bytecode", "evm.deployedBytecode", "devdoc", "userdoc", "metadata", "abi"]
_DOC_BLOCK = re.compile(r"^ *(/\*\*.*?\*/|///[^\n]*)\n", re.M | re.S)


def _corpus_tag(comment: str, chain_id: int, hex40: str) -> str:
    # Puts the address into every file so no two contracts share a source tree.
    return f"{comment} ethsource fake Etherscan corpus: chain {chain_id}, contract {to_checksum('0x' + hex40)}"


def _solidity_file(path: str, spdx: str, tag: str, values: dict) -> str:
    origin, pragma, imports, body = _SOLIDITY_UNITS[path]
    lines = [f"// SPDX-License-Identifier: {'MIT' if origin else spdx}"]
    if origin:
        lines.append(f"// OpenZeppelin Contracts (last updated v4.9.0) ({origin})")
    lines += [tag, "", f"pragma solidity {pragma};", ""]
    if imports:
        lines += [f'import "{i}";' for i in imports] + [""]
    return "\n".join(lines) + "\n" + body.substitute(values)


def _main_solidity_file(pragma: str, spdx: str, tag: str, imports: tuple[str, ...], body: Template, values) -> str:
    lines = [f"// SPDX-License-Identifier: {spdx}", tag, "", f"pragma solidity {pragma};", ""]
    lines += [f'import "{i}";' for i in imports]
    return "\n".join(lines) + "\n\n" + body.substitute(values)


def _flattened(pragma: str, spdx: str, tag: str, deps: tuple[str, ...], body: Template, values) -> str:
    # Flattened sources drop the dependencies' NatSpec to stay small, as flatteners often do.
    parts = [_DOC_BLOCK.sub("", _SOLIDITY_UNITS[d][3].substitute(values)) for d in deps]
    header = f"// SPDX-License-Identifier: {spdx}\n{tag}\n\npragma solidity {pragma};\n\n"
    return header + "\n".join(parts + [body.substitute(values)])


def _word(value: int | str) -> str:
    """One 32-byte ABI word: an int, or a 40-hex address."""
    return f"{value:064x}" if isinstance(value, int) else value.rjust(64, "0")


def _standard_json(document: dict) -> str:
    # Etherscan stores standard-JSON input with CRLF and 2-space indent, inside an extra pair of braces.
    return "{" + json.dumps(document, indent=2).replace("\n", "\r\n") + "}"


def _files_json(files: dict[str, str]) -> str:
    # The single-brace form comes out of a Go encoder: compact, with HTML-sensitive characters escaped.
    text = json.dumps({path: {"content": content} for path, content in files.items()}, separators=(",", ":"))
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("'", "\\u0027")):
        text = text.replace(char, escape)
    return text


def _solidity_contract(shape: str, chain_id: int, hex40: str) -> tuple[dict, dict[str, str]]:
    h = _digest(hex40)
    is_vault = h[1] % 4 == 3  # a quarter of the Solidity contracts link an external library
    compiler, evm = _SOLC_VERSIONS[h[2] % len(_SOLC_VERSIONS)]
    spdx, license_type = _LICENSES[h[3] % len(_LICENSES)]
    optimized = h[4] % 3 != 0
    runs = _RUNS[h[5] % len(_RUNS)] if optimized else "200"
    owner = _derived(hex40, "owner")
    pragma = "^" + compiler[1 : compiler.index("+")]
    tag = _corpus_tag("//", chain_id, hex40)

    if is_vault:
        name = _VAULT_NAMES[h[6] % len(_VAULT_NAMES)]
        values = {"name": name}
        deps, imports, body, abi = _VAULT_DEPS, _VAULT_IMPORTS, _VAULT, _VAULT_ABI
        library_hex = _derived(hex40, "library")
        constructor_args = _word(_derived(hex40, "asset")) + _word(owner)
    else:
        name, symbol = _TOKEN_NAMES[h[6] % len(_TOKEN_NAMES)]
        cap = (1_000_000, 21_000_000, 100_000_000)[h[7] % 3]
        values = {"name": name, "symbol": symbol, "cap": f"{cap:_}"}
        deps, imports, body, abi = _TOKEN_DEPS, _TOKEN_IMPORTS, _TOKEN, _TOKEN_ABI
        library_hex = None
        constructor_args = _word(owner) + _word((1 + h[8]) * 1000 * 10**18)

    if shape == "solidity_single":
        main_path = f"{name}.sol"
        files = {main_path: _flattened(pragma, spdx, tag, deps, body, values)}
        source_code = files[main_path]
    else:
        main_path = f"contracts/{name}.sol"
        files = {d: _solidity_file(d, spdx, tag, values) for d in deps}
        files[main_path] = _main_solidity_file(pragma, spdx, tag, imports, body, values)
        if shape == "solidity_multi":
            source_code = _files_json(files)
        else:
            libraries = {"contracts/libraries/SafeMathLib.sol": {"SafeMathLib": "0x" + library_hex}} if is_vault else {}
            source_code = _standard_json(
                {
                    "language": "Solidity",
                    "sources": {path: {"content": content} for path, content in files.items()},
                    "settings": {
                        "optimizer": {"enabled": optimized, "runs": int(runs)},
                        "evmVersion": evm,
                        "outputSelection": {"*": {"*": _OUTPUT_SELECTION}},
                        "metadata": {"useLiteralContent": True},
                        "libraries": libraries,
                    },
                }
            )

    item = {
        "SourceCode": source_code,
        "ABI": _abi_string(abi),
        "ContractName": name,
        "ContractFileName": main_path,
        "CompilerVersion": compiler,
        "OptimizationUsed": "1" if optimized else "0",
        "Runs": runs,
        "ConstructorArguments": constructor_args,
        "EVMVersion": evm if shape == "solidity_standard_json" or h[9] % 2 else "Default",
        "Library": f"SafeMathLib:0x{library_hex}" if library_hex else "",
        "LicenseType": license_type,
        "Proxy": "0",
        "Implementation": "",
        "SwarmSource": "" if shape == "solidity_standard_json" else "ipfs://" + _digest(hex40, "swarm").hex(),
    }
    return item, files


def _proxy_contract(chain_id: int, hex40: str) -> tuple[dict, dict[str, str]]:
    h = _digest(hex40)
    compiler, evm = _SOLC_VERSIONS[h[2] % len(_SOLC_VERSIONS)]
    implementation = _implementation_hex(hex40)
    tag = _corpus_tag("//", chain_id, hex40)
    paths = [
        _OZ + "utils/Address.sol",
        _OZ + "proxy/Proxy.sol",
        _OZ + "proxy/ERC1967/ERC1967Upgrade.sol",
        _OZ + "proxy/ERC1967/ERC1967Proxy.sol",
    ]
    if h[1] % 2:
        name, abi = "TransparentUpgradeableProxy", _TRANSPARENT_PROXY_ABI
        paths.append(_OZ + "proxy/transparent/TransparentUpgradeableProxy.sol")
        # (address _logic, address admin_, bytes _data) with empty _data
        constructor_args = _word(implementation) + _word(_derived(hex40, "admin")) + _word(0x60) + _word(0)
    else:
        name, abi = "ERC1967Proxy", _ERC1967_PROXY_ABI
        constructor_args = _word(implementation) + _word(0x40) + _word(0)
    files = {path: _solidity_file(path, "MIT", tag, {}) for path in paths}
    source_code = _standard_json(
        {
            "language": "Solidity",
            "sources": {path: {"content": content} for path, content in files.items()},
            "settings": {
                "optimizer": {"enabled": True, "runs": 200},
                "evmVersion": evm,
                "outputSelection": {"*": {"*": _OUTPUT_SELECTION}},
                "libraries": {},
            },
        }
    )
    item = {
        "SourceCode": source_code,
        "ABI": _abi_string(abi),
        "ContractName": name,
        "ContractFileName": paths[-1],
        "CompilerVersion": compiler,
        "OptimizationUsed": "1",
        "Runs": "200",
        "ConstructorArguments": constructor_args,
        "EVMVersion": evm,
        "Library": "",
        "LicenseType": "MIT",
        "Proxy": "1",
        "Implementation": "0x" + implementation,
        "SwarmSource": "",
    }
    return item, files


# --- Vyper sources ---------------------------------------------------------------------

_VYPER_TOKEN = Template('''\
# @version ${version}
"""
@title ${name}
@license MIT
@notice ERC20 token with a single minter, who may hand the role over.
"""
${tag}

from vyper.interfaces import ERC20
from vyper.interfaces import ERC20Detailed

implements: ERC20
implements: ERC20Detailed


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

event MinterChanged:
    minter: indexed(address)


name: public(String[32])
symbol: public(String[16])
decimals: public(uint8)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
minter: public(address)


@external
def __init__(_supply: uint256, _minter: address):
    self.name = "${name}"
    self.symbol = "${symbol}"
    self.decimals = 18
    self.minter = _minter
    self.balanceOf[_minter] = _supply
    self.totalSupply = _supply
    log Transfer(empty(address), _minter, _supply)


@external
def transfer(_to: address, _value: uint256) -> bool:
    """
    @dev Transfer `_value` tokens from the caller to `_to`.
    """
    self.balanceOf[msg.sender] -= _value
    self.balanceOf[_to] += _value
    log Transfer(msg.sender, _to, _value)
    return True


@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    """
    @dev Transfer `_value` tokens from `_from` to `_to` using the caller's allowance.
    """
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    self.allowance[_from][msg.sender] -= _value
    log Transfer(_from, _to, _value)
    return True


@external
def approve(_spender: address, _value: uint256) -> bool:
    self.allowance[msg.sender][_spender] = _value
    log Approval(msg.sender, _spender, _value)
    return True


@external
def mint(_to: address, _value: uint256) -> bool:
    assert msg.sender == self.minter, "only the minter can mint"
    assert _to != empty(address), "cannot mint to the zero address"
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(empty(address), _to, _value)
    return True


@external
def burn(_value: uint256) -> bool:
    self.totalSupply -= _value
    self.balanceOf[msg.sender] -= _value
    log Transfer(msg.sender, empty(address), _value)
    return True


@external
def set_minter(_minter: address):
    assert msg.sender == self.minter, "only the minter can hand over minting"
    self.minter = _minter
    log MinterChanged(_minter)
''')

_SNEKMATE_OWNABLE = Template('''\
# pragma version ~=0.4.0
"""
@title Owner-Based Access Control Functions
@custom:contract-name ownable
@license GNU Affero General Public License v3.0 only
@author pcaversaccio
@notice These functions can be used to implement a basic access
        control mechanism, where there is an account (an owner)
        that can be granted exclusive access to specific functions.
        By default, the owner account will be the one that deploys
        the contract. This can later be changed with `transfer_ownership`.
"""
${tag}


# @dev Returns the address of the current owner.
owner: public(address)


# @dev Emitted when the ownership is transferred
# from `previous_owner` to `new_owner`.
event OwnershipTransferred:
    previous_owner: indexed(address)
    new_owner: indexed(address)


@deploy
@payable
def __init__():
    """
    @dev The `owner` role will be assigned to the `msg.sender`.
    """
    self._transfer_ownership(msg.sender)


@external
def transfer_ownership(new_owner: address):
    """
    @dev Transfers the ownership of the contract
         to a new account `new_owner`.
    """
    self._check_owner()
    assert new_owner != empty(address), "ownable: new owner is the zero address"
    self._transfer_ownership(new_owner)


@external
def renounce_ownership():
    """
    @dev Leaves the contract without an owner.
    """
    self._check_owner()
    self._transfer_ownership(empty(address))


@internal
def _check_owner():
    """
    @dev Throws if the sender is not the owner.
    """
    assert msg.sender == self.owner, "ownable: caller is not the owner"


@internal
def _transfer_ownership(new_owner: address):
    """
    @dev Transfers the ownership of the contract
         to a new account `new_owner`.
    """
    old_owner: address = self.owner
    self.owner = new_owner
    log OwnershipTransferred(old_owner, new_owner)
''')

_SPLITTER_INTERFACE = Template('''\
# pragma version ~=0.4.0
"""
@title I${name}
@notice The part of ${name} that keepers and other contracts call.
        Anyone may trigger a dispatch; the receivers and their weights
        are managed by the owner and read through `n_receivers`.
@dev Keepers watch the fee token balance of ${name} and call
     `dispatch_fees` once it is worth the gas. Integrators should
     depend on this interface rather than on the implementation,
     whose storage layout may change between releases.
"""
${tag}


@external
def dispatch_fees():
    """
    @notice Send the contract's whole token balance to the receivers,
            each getting its weight out of 10_000 basis points.
    @dev Rounding dust stays in the contract until the next dispatch.
    """
    ...


@view
@external
def n_receivers() -> uint256:
    """
    @notice The number of receivers currently configured.
    @return The length of the `receivers` array.
    """
    ...
''')

_SPLITTER = Template('''\
# pragma version ~=0.4.0
"""
@title ${name}
@notice Holds one fee token and splits it among weighted receivers
        whenever anyone calls `dispatch_fees`.
@license MIT
"""
${tag}

from ethereum.ercs import IERC20

from snekmate.auth import ownable
initializes: ownable
exports: (
    ownable.transfer_ownership,
    ownable.renounce_ownership,
    ownable.owner
)

from contracts.interfaces import I${name}
implements: I${name}


event FeeDispatched:
    receiver: indexed(address)
    amount: uint256

event SetReceivers: pass


struct Receiver:
    addr: address
    weight: uint256


# maximum number of receivers
MAX_RECEIVERS: constant(uint256) = 10
# maximum basis points (100%)
MAX_BPS: constant(uint256) = 10_000

token: public(immutable(IERC20))
receivers: public(DynArray[Receiver, MAX_RECEIVERS])


@deploy
def __init__(_token: IERC20, owner: address):
    assert _token.address != empty(address), "zeroaddr: token"
    assert owner != empty(address), "zeroaddr: owner"
    ownable.__init__()
    ownable._transfer_ownership(owner)
    token = _token


@external
def set_receivers(receivers: DynArray[Receiver, MAX_RECEIVERS]):
    """
    @notice Replace the receivers; their weights must add up to MAX_BPS.
    """
    ownable._check_owner()
    total: uint256 = 0
    for r: Receiver in receivers:
        assert r.addr != empty(address), "zeroaddr: receiver"
        total += r.weight
    assert total == MAX_BPS, "receivers: weights must sum to 100%"
    self.receivers = receivers
    log SetReceivers()


@nonreentrant
@external
def dispatch_fees():
    """
    @notice Send the whole token balance to the receivers, pro rata.
    """
    balance: uint256 = staticcall token.balanceOf(self)
    for r: Receiver in self.receivers:
        amount: uint256 = balance * r.weight // MAX_BPS
        assert extcall token.transfer(r.addr, amount, default_return_value=True)
        log FeeDispatched(r.addr, amount)


@view
@external
def n_receivers() -> uint256:
    return len(self.receivers)
''')

_VYPER_TOKEN_NAMES = (("LiquidityToken", "LQT"), ("GaugeShare", "GSH"), ("PoolToken", "PLT"))
_VYPER_LEGACY_VERSIONS = ("0.3.10", "0.3.9", "0.3.7")
_SPLITTER_NAMES = ("FeeSplitter", "RevenueRouter", "RewardsDistributor")
_VYPER_MODERN_VERSIONS = (("0.4.0", "v0.4.0+commit.e9db8d9"), ("0.4.1", "v0.4.1+commit.8a93dd27"))
_SITE_PACKAGES = ".venv/lib/python3.12/site-packages"


def _vyper_contract(shape: str, chain_id: int, hex40: str) -> tuple[dict, dict[str, str]]:
    h = _digest(hex40)
    tag = _corpus_tag("#", chain_id, hex40)
    owner = _derived(hex40, "owner")
    if shape == "vyper_single":
        name, symbol = _VYPER_TOKEN_NAMES[h[1] % len(_VYPER_TOKEN_NAMES)]
        version = _VYPER_LEGACY_VERSIONS[h[2] % len(_VYPER_LEGACY_VERSIONS)]
        main_path = f"{name}.vy"
        files = {main_path: _VYPER_TOKEN.substitute(version=version, name=name, symbol=symbol, tag=tag)}
        source_code = files[main_path]
        abi = _VYPER_TOKEN_ABI
        constructor_args = _word((1 + h[3]) * 10**24) + _word(owner)
    else:
        name = _SPLITTER_NAMES[h[1] % len(_SPLITTER_NAMES)]
        version, long_version = _VYPER_MODERN_VERSIONS[h[2] % len(_VYPER_MODERN_VERSIONS)]
        main_path = f"contracts/{name}.vy"
        files = {
            f"{_SITE_PACKAGES}/snekmate/auth/ownable.vy": _SNEKMATE_OWNABLE.substitute(tag=tag),
            f"contracts/interfaces/I{name}.vyi": _SPLITTER_INTERFACE.substitute(name=name, tag=tag),
            main_path: _SPLITTER.substitute(name=name, tag=tag),
        }
        sources = {
            path: {"content": content, "sha256sum": hashlib.sha256(content.encode()).hexdigest()}
            for path, content in files.items()
        }
        integrity = hashlib.sha256("".join(s["sha256sum"] for s in sources.values()).encode()).hexdigest()
        source_code = _standard_json(
            {
                "language": "Vyper",
                "sources": sources,
                "settings": {
                    "outputSelection": {main_path: ["evm.bytecode", "evm.deployedBytecode", "abi"]},
                    "search_paths": [_SITE_PACKAGES, "."],
                },
                "compiler_version": long_version,
                "integrity": integrity,
            }
        )
        abi = _SPLITTER_ABI
        constructor_args = _word(_derived(hex40, "token")) + _word(owner)

    item = {
        "SourceCode": source_code,
        "ABI": _abi_string(abi),
        "ContractName": name,
        "ContractFileName": main_path,
        "CompilerVersion": f"vyper:{version}",
        "OptimizationUsed": "1",
        "Runs": "0",
        "ConstructorArguments": constructor_args,
        "EVMVersion": "Default",
        "Library": "",
        "LicenseType": "MIT",
        "Proxy": "0",
        "Implementation": "",
        "SwarmSource": "",
    }
    return item, files


# --- answers ---------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _contract(chain_id: int, hex40: str) -> tuple[dict, tuple[tuple[str, str], ...]]:
    shape = shape_of("0x" + hex40)
    if shape.startswith("solidity"):
        item, files = _solidity_contract(shape, chain_id, hex40)
    elif shape.startswith("vyper"):
        item, files = _vyper_contract(shape, chain_id, hex40)
    elif shape == "proxy":
        item, files = _proxy_contract(chain_id, hex40)
    else:
        item, files = UNVERIFIED_ITEM, {}
    return item, tuple(files.items())


def getsourcecode_answer(chain_id: int, address: str) -> dict:
    """The whole JSON answer Etherscan gives to ``getsourcecode`` for this address."""
    if not ADDRESS_RE.fullmatch(address):
        return dict(INVALID_ADDRESS_ANSWER)
    shape = shape_of(address)
    if shape == "invalid_address":
        return dict(INVALID_ADDRESS_ANSWER)
    if shape == "etherscan_error":
        return dict(SOURCE_UNAVAILABLE_ANSWER)
    item, _ = _contract(chain_id, _hex40(address))
    return {"status": "1", "message": "OK", "result": [dict(item)]}


def expected_files(chain_id: int, address: str) -> dict[str, str]:
    """The source files the answer's SourceCode encodes (path as given -> content)."""
    if shape_of(address) in ERROR_SHAPES:
        return {}
    _, files = _contract(chain_id, _hex40(address))
    return dict(files)
