-- One row per (chain, address): its scan status and what is known about it.
CREATE TABLE contracts (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    chain_id         INT UNSIGNED NOT NULL,
    address          CHAR(42) NOT NULL,
    status           ENUM('CREATED', 'PROCESS', 'SUCCESS', 'ERROR') NOT NULL,
    error_code       VARCHAR(64) NULL,
    error_message    VARCHAR(1024) NULL,
    attempts         INT UNSIGNED NOT NULL DEFAULT 0,
    contract_name    VARCHAR(255) NULL,
    compiler_version VARCHAR(128) NULL,
    language         VARCHAR(32) NULL,
    proxy            BOOLEAN NULL,
    implementation   CHAR(42) NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY contracts_chain_address (chain_id, address),
    KEY contracts_status_updated (status, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The fetched source, compressed; the primary key makes "one contract, one stored source" a fact.
CREATE TABLE contract_sources (
    contract_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    payload     LONGBLOB NOT NULL,
    size_bytes  INT UNSIGNED NOT NULL,
    fetched_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT contract_sources_contract FOREIGN KEY (contract_id) REFERENCES contracts (id) ON DELETE CASCADE
) ENGINE=InnoDB;
