# SPDX-License-Identifier: MIT
#
# What install-deps.sh and install-bench-deps.sh share (POSIX sh; source
# it):
#
#   missing_pkgs PKG...      prints the packages dpkg has not installed,
#                            each after a space ("" when none is missing)
#   install_pkgs WHO PKG...  installs them with apt-get, as root only
#                            (WHO names the script in its messages)

missing_pkgs() {
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		   grep -q "install ok installed"; then
			printf ' %s' "$p"
		fi
	done
}

install_pkgs() {
	who=$1
	shift
	if [ "$(id -u)" != 0 ]; then
		echo "$who: missing: $*; run as root" >&2
		exit 1
	fi
	echo "$who: installing: $*"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "$@"
}
