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
