#!/bin/sh
# Run by the MariaDB image on its first start (/docker-entrypoint-initdb.d): the account mysqld-exporter
# scrapes with, with only the grants it needs. The password comes from local/.env (MYSQLD_EXPORTER_PASSWORD).
set -eu
mariadb --user=root --password="$MARIADB_ROOT_PASSWORD" --execute="
  CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED BY '$MYSQLD_EXPORTER_PASSWORD' WITH MAX_USER_CONNECTIONS 3;
  GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'%';"
