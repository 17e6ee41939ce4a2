#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Extract the few files iotsec takes from Debian's linux-source-6.1 tarball
# (the kselftest harness, checkpatch and its data) into DIR. Cached: does
# nothing when DIR already holds them.
set -eu
dir=${1:?usage: linux-source.sh DIR}
tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1)
if [ -f "$dir/.done" ]; then
	exit 0
fi
if [ -z "$tarball" ]; then
	echo "linux-source.sh: no /usr/src/linux-source-*.tar.xz; run scripts/install-deps.sh" >&2
	exit 1
fi
top=$(basename "$tarball" .tar.xz)
mkdir -p "$dir"
tar -xJf "$tarball" -C "$dir" --strip-components=1 \
	"$top/tools/testing/selftests/kselftest_harness.h" \
	"$top/tools/testing/selftests/kselftest.h" \
	"$top/scripts/checkpatch.pl" \
	"$top/scripts/spelling.txt" \
	"$top/scripts/const_structs.checkpatch"
touch "$dir/.done"
