#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Test certificates for iotsec's MQTT over TLS, made with OpenSSL:
#
#   ca.pem / ca.key           a test CA
#   server.pem / server.key   the broker, signed by the CA; subjectAltName
#                             from $SERVER_SAN (default DNS:localhost,
#                             IP:127.0.0.1)
#   client.pem / client.key   a device, signed by the CA, CN = DEVICE_ID
#                             (default dev1), for X.509 client auth
#
# usage: gen-certs.sh DIR [DEVICE_ID]
#
# Idempotent: files that exist and still verify against the CA (with the
# same server names and device id) are kept. Keys are readable by the
# mosquitto user, which the broker drops to when started as root. Test
# material only: never use these keys for anything real.
set -eu

dir=${1:?usage: gen-certs.sh DIR [DEVICE_ID]}
device=${2:-dev1}
san=${SERVER_SAN:-DNS:localhost,IP:127.0.0.1}
days=${CERT_DAYS:-3650}

mkdir -p "$dir"
cd "$dir"
umask 022

newkey() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1" 2>/dev/null
}

# Keys for the broker: root owns them, the mosquitto group may read them.
share_key() {
	if getent group mosquitto >/dev/null 2>&1; then
		chgrp mosquitto "$1" && chmod 640 "$1"
	else
		chmod 644 "$1"
	fi
}

valid() { # CERT [EXPECTED-SUBJECT-OR-SAN-TEXT]
	[ -s "$1" ] && [ -s "${1%.pem}.key" ] &&
		openssl verify -CAfile ca.pem "$1" >/dev/null 2>&1 &&
		{ [ $# -lt 2 ] || openssl x509 -in "$1" -noout -text |
			tr -d ' ' | grep -qF -- "$2"; }
}

if ! [ -s ca.pem ] || ! [ -s ca.key ] ||
   ! openssl x509 -in ca.pem -noout -checkend 86400 >/dev/null 2>&1; then
	newkey ca.key
	openssl req -x509 -new -key ca.key -sha256 -days "$days" \
		-subj "/O=iotsec test/CN=iotsec test CA $(date +%s)" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign \
		-out ca.pem
	rm -f server.pem client.pem
fi
chmod 600 ca.key

# openssl prints "IP Address:" in -text; normalise the SAN for the check.
san_text=$(echo "$san" | sed 's/IP:/IPAddress:/g; s/ //g')

if ! valid server.pem "$san_text"; then
	newkey server.key
	openssl req -new -key server.key -subj "/O=iotsec test/CN=${san%%,*}" \
		-out server.csr
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
		"$san" >server.ext
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
		-CAcreateserial -days "$days" -sha256 -extfile server.ext \
		-out server.pem 2>/dev/null
	rm -f server.csr server.ext
fi
share_key server.key

if ! valid client.pem "CN=$device"; then
	newkey client.key
	openssl req -new -key client.key -subj "/CN=$device" -out client.csr
	printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' \
		>client.ext
	openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key \
		-CAcreateserial -days "$days" -sha256 -extfile client.ext \
		-out client.pem 2>/dev/null
	rm -f client.csr client.ext
fi
share_key client.key
chmod 644 ca.pem server.pem client.pem
