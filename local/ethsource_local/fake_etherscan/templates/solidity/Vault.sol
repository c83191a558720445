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
