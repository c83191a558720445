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
