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
