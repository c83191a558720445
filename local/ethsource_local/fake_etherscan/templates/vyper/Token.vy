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
