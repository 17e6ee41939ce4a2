# SPDX-License-Identifier: MIT
#
# Where Azure's published schemas are, for the tests that validate against
# them (source it; bash):
#
#   azure_schemas TOP   sets AZURE_SCHEMAS to $IOTSEC_AZURE_SCHEMAS or,
#                       when that is unset, to
#                       TOP/../shared/reference/azure-security-message;
#                       returns 1, with the reason in AZURE_SCHEMAS_MISSING,
#                       when that directory does not exist

azure_schemas() {
	AZURE_SCHEMAS=${IOTSEC_AZURE_SCHEMAS:-$1/../shared/reference/azure-security-message}
	AZURE_SCHEMAS_MISSING=
	[ -d "$AZURE_SCHEMAS" ] && return 0
	AZURE_SCHEMAS_MISSING="Azure's schemas not found at $AZURE_SCHEMAS (set IOTSEC_AZURE_SCHEMAS)"
	return 1
}

