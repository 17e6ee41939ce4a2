# SPDX-License-Identifier: MIT
#
# Where the lab's downloads are kept (POSIX sh; source it): the apt lists
# of other Debian suites (apt-suites.sh), the kernels fetched from them
# (kernel-pkgs.sh) and the trixie build root (trixie-root.sh). They take
# minutes to make and do not depend on the tree, so every clone of it on
# a machine shares them, as apt's own cache is shared:
#
#   $IOTSEC_CACHE                  when set
#   /var/cache/iotsec              when we may write there (root)
#   $BUILD (default TOP/build)     else
#
#   iotsec_cache TOP               prints the directory (made if missing)

iotsec_cache() {
	_c=${IOTSEC_CACHE:-}
	if [ -z "$_c" ]; then
		if [ -d /var/cache/iotsec ] && [ -w /var/cache/iotsec ] ||
		   [ -w /var/cache ]; then
			_c=/var/cache/iotsec
		else
			_c=${BUILD:-build}
			case "$_c" in /*) ;; *) _c=$1/$_c ;; esac
		fi
	fi
	mkdir -p "$_c" && echo "$_c"
}
