#!/usr/bin/env bash
# Makes sure the services ordergate's tests talk to are running on this machine:
# PostgreSQL on 127.0.0.1:5432 (database "test", user postgres) and RabbitMQ on 127.0.0.1:5672
# (guest/guest). Starts them when installed but stopped; installs them with apt-get when
# missing (needs root). Safe to run again.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port=$1 what=$2 i
    for i in $(seq 1 120); do
        port_open "$port" && return 0
        sleep 1
    done
    log "$what did not open port $port after 120 s"
    return 1
}

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        log "$* missing and not root: install it (apt-get install $*) and run again"
        exit 1
    fi
    if [ -z "${APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

ensure_postgres() {
    if ! port_open 5432; then
        if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
            log "installing PostgreSQL"
            apt_install postgresql
        fi
        local version
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        log "starting PostgreSQL $version"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start
        wait_port 5432 PostgreSQL
        # A fresh cluster authenticates TCP clients by password: give postgres the one the tests use.
        as_postgres "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
    fi
    if ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
        PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
    fi
    log "PostgreSQL ready on 127.0.0.1:5432"
}

ensure_rabbitmq() {
    if ! port_open 5672; then
        if ! command -v rabbitmq-server >/dev/null 2>&1; then
            log "installing RabbitMQ"
            apt_install rabbitmq-server
        fi
        log "starting RabbitMQ"
        rabbitmq-server -detached || true
        wait_port 5672 RabbitMQ
    fi
    # The port opens before the broker accepts work.
    local i
    for i in $(seq 1 60); do
        rabbitmqctl -q await_startup >/dev/null 2>&1 && break
        sleep 1
    done
    log "RabbitMQ ready on 127.0.0.1:5672"
}

ensure_postgres
ensure_rabbitmq
