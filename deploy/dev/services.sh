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

# A self-signed test CA and a server certificate it signs for 127.0.0.1 / localhost, in
# $1/tls (ca.pem, server.pem, server.key); made once. The TLS test trusts ca.pem via `ca_file`.
ensure_test_tls() {
    local tls=$1/tls
    [ -s "$tls/ca.pem" ] && [ -s "$tls/server.pem" ] && [ -s "$tls/server.key" ] && return 0
    command -v openssl >/dev/null 2>&1 || apt_install openssl
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ordergate test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 3650 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    chmod 0644 "$tls/ca.pem" "$tls/server.pem"
    log "test CA and server certificate in $tls"
}

# A private Dovecot IMAP server for the mailbox tests: 127.0.0.1:${ORDERGATE_TEST_IMAP_PORT:-10143},
# plain text (loopback only), and the same over implicit TLS on
# 127.0.0.1:${ORDERGATE_TEST_IMAPS_PORT:-10993} with a certificate from the test CA
# (/var/tmp/ordergate-dovecot/tls/ca.pem); any user with password "ogtest" (static passdb),
# Maildir under /var/tmp/ordergate-dovecot. Its own config and run directory: a system Dovecot
# is left alone. A running instance without the TLS port is given its new config by a reload.
ensure_dovecot() {
    local port=${ORDERGATE_TEST_IMAP_PORT:-10143} tls_port=${ORDERGATE_TEST_IMAPS_PORT:-10993}
    local dir=/var/tmp/ordergate-dovecot
    if port_open "$port" && port_open "$tls_port"; then
        log "Dovecot ready on 127.0.0.1:$port (TLS on $tls_port)"
        return 0
    fi
    if ! command -v dovecot >/dev/null 2>&1; then
        log "installing Dovecot"
        apt_install dovecot-imapd
    fi
    mkdir -p "$dir/run" "$dir/state" "$dir/home"
    chown nobody:nogroup "$dir/home"
    ensure_test_tls "$dir"
    cat >"$dir/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
ssl = yes
ssl_cert = <$dir/tls/server.pem
ssl_key = <$dir/tls/server.key
auth_mechanisms = plain login
disable_plaintext_auth = no
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tls_port
    ssl = yes
  }
}
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
passdb {
  driver = static
  args = password=ogtest
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dir/home/%u
}
CONF
    if port_open "$port"; then
        log "reloading Dovecot with the TLS listener (private config $dir/dovecot.conf)"
        doveadm -c "$dir/dovecot.conf" reload </dev/null >/dev/null 2>&1
    else
        log "starting Dovecot (private config $dir/dovecot.conf)"
        # Its own output goes to its log; inherited pipes would keep callers waiting.
        dovecot -c "$dir/dovecot.conf" </dev/null >/dev/null 2>&1
    fi
    wait_port "$port" Dovecot
    wait_port "$tls_port" "Dovecot (TLS)"
    log "Dovecot ready on 127.0.0.1:$port (TLS on $tls_port)"
}

# PDF text layers (pdftotext, pdftoppm) and OCR (tesseract, English + simplified Chinese) for
# fax orders; the daemon runs without them, the fax tests need them.
ensure_text_tools() {
    local missing=()
    command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
    command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr tesseract-ocr-eng)
    [ -e /usr/share/tesseract-ocr/5/tessdata/chi_sim.traineddata ] \
        || ls /usr/share/tesseract-ocr/*/tessdata/chi_sim.traineddata >/dev/null 2>&1 \
        || missing+=(tesseract-ocr-chi-sim)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
    log "pdftotext and tesseract ready"
}

# A real headless browser for the page tests (Chromium driven by chromedriver over WebDriver,
# tests/common/browser.rs), a real SMTP server for the notice tests (aiosmtpd, started by the
# tests on ports of their own), and a font with CJK glyphs for delivery notes.
ensure_browser_and_mail_tools() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
    # Debian's python3 (a pyenv python3 earlier on PATH does not see Debian's modules).
    /usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
    [ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
    log "chromium, chromedriver, aiosmtpd and the CJK font ready"
}

ensure_postgres
ensure_rabbitmq
ensure_dovecot
ensure_text_tools
ensure_browser_and_mail_tools
