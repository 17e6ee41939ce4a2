#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Prints iotsec's version (docs/install.md, "Versions"):
#   X.Y.Z              at a tag vX.Y.Z
#   X.Y.Z+N.gSHA       N commits after the newest tag vX.Y.Z
#   0.0.0+N.gSHA       no tag yet: N commits in the history (so that a
#                      later commit's packages upgrade an earlier one's)
#   the VERSION file   in a release tarball (make dist writes it; no git)
#   0.0.0+unknown      neither
# Only the history counts, not uncommitted changes: make dist archives HEAD.
cd "$(dirname "$0")/.." || exit 1
if [ -d .git ] || [ -f .git ]; then
	sha=$(git rev-parse --short=12 HEAD 2>/dev/null)
	if [ -n "$sha" ]; then
		d=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null)
		if [ -n "$d" ]; then
			# vX.Y.Z-N-gSHA
			n=${d%-g*}; n=${n##*-}
			t=${d%-*-g*}; t=${t#v}
			if [ "$n" = 0 ]; then
				echo "$t"
			else
				echo "$t+$n.g$sha"
			fi
		else
			echo "0.0.0+$(git rev-list --count HEAD).g$sha"
		fi
		exit 0
	fi
fi
if [ -f VERSION ]; then
	head -n 1 VERSION
	exit 0
fi
echo 0.0.0+unknown
