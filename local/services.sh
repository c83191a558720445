#!/usr/bin/env bash
# Installs (Debian/Ubuntu packages) and starts what ethsource needs on this machine: MariaDB, RabbitMQ,
# and nginx for the local gateway. Safe to run again: it only does what is missing, and takes a second or two
# when nothing is. `--minimal` (what `make run` needs) leaves out the tools only tests and `make observe` use.
set -euo pipefail

minimal=false
case "${1:-}" in
  --minimal) minimal=true ;;
  "") ;;
  *) echo "usage: $0 [--minimal]" >&2; exit 64 ;;
esac

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
# Prometheus, Alertmanager and node-exporter: `make observe` runs them; tests run them, promtool, amtool and
# docker-compose (its `config` check of local/docker-compose.yaml).
if [ "$minimal" = false ]; then
  for extra in prometheus prometheus-alertmanager prometheus-node-exporter docker-compose ${EXTRA_DEBIAN_PACKAGES:-}; do
    dpkg -s "$extra" >/dev/null 2>&1 || missing+=("$extra")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  # Debian's postinst scripts try to start services; without systemd that is harmless noise.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1; then
  echo "starting MariaDB"
  as_root mkdir -p /run/mysqld
  as_root chown mysql:mysql /run/mysqld
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  for _ in $(seq 60); do mysqladmin -h127.0.0.1 -uroot ping >/dev/null 2>&1 && break; sleep 1; done
  mysqladmin -h127.0.0.1 -uroot ping >/dev/null
fi

if ! as_root rabbitmqctl -q await_startup --timeout 2 >/dev/null 2>&1; then
  echo "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  # await_startup fails at once while the node is still booting: retry it.
  for _ in $(seq 60); do as_root rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1 && break; sleep 1; done
  as_root rabbitmqctl -q await_startup --timeout 5 >/dev/null
fi
echo "MariaDB, RabbitMQ and nginx are ready"
