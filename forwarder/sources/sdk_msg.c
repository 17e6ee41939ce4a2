// SPDX-License-Identifier: MIT
/*
 * Validation of SDK requests against Azure's event schemas
 * (shared/reference/azure-security-message/, messageEventSecurity*.json)
 * and the custom-event rules of include/iotsec/iotsec.h.
 *
 * The schemas are transcribed into tables: for each event kind its
 * Category, its payload fields with their types, which are required, and
 * additionalProperties false. ajv checks the same events against the
 * schemas themselves in tests/host/sdk-schema.sh, so a table that drifts
 * from Azure's text fails a test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <json-c/json.h>

#include "common/util.h"
#include "pipeline/serialize.h"
#include "sources/sdk_msg.h"

enum ftype {
	F_STR,		/* any string */
	F_INT,		/* JSON integer */
	F_BOOL,
	F_IP,		/* IPv4 or IPv6 address */
	F_ENUM,		/* one of the strings in .values */
	F_EXTRA,	/* ExtraDetails: object of strings */
};

struct field {
	const char *name;
	enum ftype type;
	bool required;
	const char *const *values;	/* F_ENUM, NULL-terminated */
};

struct kind {
	const char *name;
	const char *category;
	const struct field *fields;
	/* at least one of these two is required (Login: UserId, UserName) */
	const char *any_of[2];
};

static const char *const direction[] = { "In", "Out", NULL };
static const char *const login_result[] = { "Fail", "Success", NULL };
static const char *const fw_action[] = { "Allow", "Deny", "Other", NULL };
static const char *const bl_result[] = { "Pass", "Fail", "Err", NULL };
static const char *const bl_severity[] = { "Critical", "Important",
					   "Warning", "Informational", NULL };

#define EXTRA { "ExtraDetails", F_EXTRA, false, NULL }
#define END { NULL, 0, false, NULL }

static const struct field f_connection[] = {
	{ "RemoteAddress", F_IP, true, NULL },
	{ "RemotePort", F_STR, true, NULL },
	{ "LocalAddress", F_IP, false, NULL },
	{ "LocalPort", F_STR, false, NULL },
	{ "Direction", F_ENUM, true, direction },
	{ "Protocol", F_STR, true, NULL },
	{ "ProcessId", F_INT, true, NULL },
	{ "UserId", F_STR, false, NULL },
	{ "Executable", F_STR, true, NULL },
	{ "CommandLine", F_STR, false, NULL },
	EXTRA, END
};

static const struct field f_login[] = {
	{ "ProcessId", F_INT, true, NULL },
	{ "UserId", F_STR, false, NULL },
	{ "UserName", F_STR, false, NULL },
	{ "Operation", F_STR, true, NULL },
	{ "Executable", F_STR, true, NULL },
	{ "RemoteAddress", F_IP, false, NULL },
	{ "RemotePort", F_STR, false, NULL },
	{ "LocalPort", F_STR, false, NULL },
	{ "Result", F_ENUM, true, login_result },
	EXTRA, END
};

static const struct field f_pcreate[] = {
	{ "Executable", F_STR, true, NULL },
	{ "ProcessId", F_INT, true, NULL },
	{ "ParentProcessId", F_INT, true, NULL },
	{ "UserId", F_STR, true, NULL },
	{ "UserName", F_STR, false, NULL },
	{ "CommandLine", F_STR, true, NULL },
	EXTRA, END
};

static const struct field f_pterm[] = {
	{ "Executable", F_STR, true, NULL },
	{ "ProcessId", F_INT, true, NULL },
	{ "ExitStatus", F_INT, true, NULL },
	EXTRA, END
};

static const struct field f_ports[] = {
	{ "RemoteAddress", F_IP, false, NULL },
	{ "RemotePort", F_STR, false, NULL },
	{ "LocalAddress", F_IP, false, NULL },
	{ "LocalPort", F_STR, true, NULL },
	{ "Protocol", F_STR, true, NULL },
	EXTRA, END
};

static const struct field f_firewall[] = {
	{ "Priority", F_INT, false, NULL },
	{ "Direction", F_ENUM, false, direction },
	{ "ChainName", F_STR, false, NULL },
	{ "Application", F_STR, false, NULL },
	{ "Enabled", F_BOOL, true, NULL },
	{ "Action", F_ENUM, true, fw_action },
	{ "SourceAddress", F_STR, false, NULL },
	{ "SourcePort", F_STR, false, NULL },
	{ "DestinationAddress", F_STR, false, NULL },
	{ "DestinationPort", F_STR, false, NULL },
	{ "Protocol", F_STR, false, NULL },
	EXTRA, END
};

static const struct field f_users[] = {
	{ "GroupIds", F_STR, true, NULL },
	{ "GroupNames", F_STR, true, NULL },
	{ "UserId", F_STR, true, NULL },
	{ "UserName", F_STR, true, NULL },
	EXTRA, END
};

static const struct field f_hardware[] = {
	{ "HardwareCategory", F_STR, true, NULL },
	{ "HardwareSubCategory", F_STR, true, NULL },
	{ "HardwareName", F_STR, true, NULL },
	EXTRA, END
};

static const struct field f_baseline[] = {
	{ "Description", F_STR, true, NULL },
	{ "CceId", F_STR, true, NULL },
	{ "Result", F_ENUM, true, bl_result },
	{ "Error", F_STR, true, NULL },
	{ "Severity", F_ENUM, true, bl_severity },
	EXTRA, END
};

static const struct field f_sysinfo[] = {
	{ "OSName", F_STR, false, NULL },
	{ "OSVersion", F_STR, false, NULL },
	{ "OSVendor", F_STR, false, NULL },
	{ "OsArchitecture", F_STR, false, NULL },
	{ "HostName", F_STR, false, NULL },
	{ "BIOSVersion", F_STR, false, NULL },
	{ "BootDevice", F_STR, false, NULL },
	{ "TotalPhysicalMemoryInKB", F_INT, false, NULL },
	{ "FreePhysicalMemoryInKB", F_INT, false, NULL },
	{ "TotalVirtualMemoryInKB", F_INT, false, NULL },
	{ "FreeVirtualMemoryInKB", F_INT, false, NULL },
	EXTRA, END
};

/* The Security events a program may send through the SDK. */
static const struct kind kinds[] = {
	{ "ConnectionCreate", "Triggered", f_connection, { NULL, NULL } },
	{ "Login", "Triggered", f_login, { "UserId", "UserName" } },
	{ "ProcessCreate", "Triggered", f_pcreate, { NULL, NULL } },
	{ "ProcessTerminate", "Triggered", f_pterm, { NULL, NULL } },
	{ "ListeningPorts", "Periodic", f_ports, { NULL, NULL } },
	{ "FirewallConfiguration", "Periodic", f_firewall, { NULL, NULL } },
	{ "LocalUsers", "Periodic", f_users, { NULL, NULL } },
	{ "ConnectedHardware", "Periodic", f_hardware, { NULL, NULL } },
	{ "OSBaseline", "Periodic", f_baseline, { NULL, NULL } },
	{ "SystemInformation", "Periodic", f_sysinfo, { NULL, NULL } },
};

/* Azure's other events: the agent's own, never from the SDK. */
static const char *const reserved[] = {
	"Diagnostic", "ConfigurationError", "DroppedEventsStatistics",
	"MessageStatistics",
};

/*
 * The kernel collector's events in the extended message
 * (serialize.c): a custom event must not pass for one of them.
 */
static const char *const extended_names[] = {
	"CredentialsChange", "KernelModuleLoad", "ProcessTrace", "FileChange",
	"ListenStart", "ProcessFork", "RuleAlert", "TamperAttempt",
	"PackageInventory", "Heartbeat",
};

static const char *const sender_keys[] = {
	"SenderProcessId", "SenderUserId", "SenderGroupId", "SenderExecutable",
};

struct ctx {
	char *reason;
	size_t len;
};

/* The reason for the caller, and ERR. */
#define reject(c, err, ...) \
	(errf((c)->reason, (c)->len, __VA_ARGS__), (err))

bool sdk_azure_name(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (!strcasecmp(name, kinds[i].name))
			return true;
	for (i = 0; i < ARRAY_SIZE(reserved); i++)
		if (!strcasecmp(name, reserved[i]))
			return true;
	return false;
}

static const struct kind *find_kind(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++)
		if (!strcmp(name, kinds[i].name))
			return &kinds[i];
	return NULL;
}

static bool is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 ||
	       inet_pton(AF_INET6, s, buf) == 1;
}

static int check_string(struct ctx *c, const char *where, json_object *v)
{
	if (!json_object_is_type(v, json_type_string))
		return reject(c, -EINVAL, "%s: expected a string", where);
	if (json_object_get_string_len(v) > SDK_MAX_STRING)
		return reject(c, -EINVAL, "%s: string longer than %d bytes",
			      where, SDK_MAX_STRING);
	return 0;
}

static int check_extra(struct ctx *c, const char *where, json_object *v)
{
	char w[160];
	int n = 0, ret;

	if (!json_object_is_type(v, json_type_object))
		return reject(c, -EINVAL, "%s.ExtraDetails: expected an object",
			      where);
	json_object_object_foreach(v, key, val) {
		snprintf(w, sizeof(w), "%s.ExtraDetails.%.64s", where, key);
		ret = check_string(c, w, val);
		if (ret)
			return ret;
		if (++n > SDK_MAX_EXTRA)
			return reject(c, -EINVAL,
				      "%s.ExtraDetails: more than %d entries",
				      where, SDK_MAX_EXTRA);
	}
	return 0;
}

static int check_field(struct ctx *c, const char *where,
		       const struct field *f, json_object *v)
{
	const char *const *e;
	int ret;

	switch (f->type) {
	case F_INT:
		if (!json_object_is_type(v, json_type_int))
			return reject(c, -EINVAL, "%s: expected an integer",
				      where);
		return 0;
	case F_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return reject(c, -EINVAL, "%s: expected true or false",
				      where);
		return 0;
	case F_EXTRA:
		return check_extra(c, where, v);
	case F_STR:
		return check_string(c, where, v);
	case F_IP:
		ret = check_string(c, where, v);
		if (ret)
			return ret;
		if (!is_ip(json_object_get_string(v)))
			return reject(c, -EINVAL,
				      "%s: expected an IPv4 or IPv6 address",
				      where);
		return 0;
	case F_ENUM:
		ret = check_string(c, where, v);
		if (ret)
			return ret;
		for (e = f->values; *e; e++)
			if (!strcmp(*e, json_object_get_string(v)))
				return 0;
		return reject(c, -EINVAL, "%s: not an allowed value", where);
	}
	return reject(c, -EINVAL, "%s: internal error", where);
}

static int check_item(struct ctx *c, const struct kind *k, size_t idx,
		      json_object *item)
{
	const struct field *f;
	char where[160], fwhere[200];
	json_object *v;
	int ret;

	snprintf(where, sizeof(where), "%s.Payload[%zu]", k->name, idx);
	if (!json_object_is_type(item, json_type_object))
		return reject(c, -EINVAL, "%s: expected an object", where);
	json_object_object_foreach(item, key, val) {
		for (f = k->fields; f->name; f++)
			if (!strcmp(f->name, key))
				break;
		if (!f->name)
			return reject(c, -EINVAL, "%s: unknown field \"%.64s\"",
				      where, key);
		snprintf(fwhere, sizeof(fwhere), "%s.%s", where, f->name);
		ret = check_field(c, fwhere, f, val);
		if (ret)
			return ret;
	}
	for (f = k->fields; f->name; f++)
		if (f->required && !json_object_object_get_ex(item, f->name, &v))
			return reject(c, -EINVAL,
				      "%s.Payload[%zu]: missing required field \"%s\"",
				      k->name, idx, f->name);
	if (k->any_of[0] && !json_object_object_get_ex(item, k->any_of[0], &v) &&
	    !json_object_object_get_ex(item, k->any_of[1], &v))
		return reject(c, -EINVAL,
			      "%s.Payload[%zu]: needs \"%s\" or \"%s\"",
			      k->name, idx, k->any_of[0], k->any_of[1]);
	return 0;
}

/* Payload: 1..SDK_MAX_PAYLOAD_ITEMS items, each checked by CHECK. */
static int check_payload_len(struct ctx *c, const char *name, json_object *p)
{
	size_t n;

	if (!json_object_is_type(p, json_type_array))
		return reject(c, -EINVAL, "%s.Payload: expected an array", name);
	n = json_object_array_length(p);
	if (n == 0)
		return reject(c, -EINVAL, "%s.Payload: empty", name);
	if (n > SDK_MAX_PAYLOAD_ITEMS)
		return reject(c, -EINVAL, "%s.Payload: more than %d items",
			      name, SDK_MAX_PAYLOAD_ITEMS);
	return 0;
}

static int parse_azure(struct ctx *c, json_object *ev, json_object **out)
{
	json_object *name = NULL, *type = NULL, *cat = NULL, *ver = NULL,
		    *empty = NULL, *payload = NULL, *res;
	const struct kind *k;
	const char *s;
	size_t i;
	int ret;

	if (!json_object_is_type(ev, json_type_object))
		return reject(c, -EINVAL, "event: expected an object");
	json_object_object_foreach(ev, key, val) {
		if (!strcmp(key, "Name"))
			name = val;
		else if (!strcmp(key, "EventType"))
			type = val;
		else if (!strcmp(key, "Category"))
			cat = val;
		else if (!strcmp(key, "PayloadSchemaVersion"))
			ver = val;
		else if (!strcmp(key, "IsEmpty"))
			empty = val;
		else if (!strcmp(key, "Payload"))
			payload = val;
		else
			return reject(c, -EINVAL,
				      "event: unknown field \"%.64s\" (Id and timestamps are the agent's)",
				      key);
	}
	if (!name || !json_object_is_type(name, json_type_string))
		return reject(c, -EINVAL, "event: Name missing or not a string");
	s = json_object_get_string(name);
	k = find_kind(s);
	if (!k) {
		if (sdk_azure_name(s))
			return reject(c, -EINVAL,
				      "event: \"%.64s\" is the agent's own event",
				      s);
		return reject(c, -EINVAL,
			      "event: \"%.64s\" is not an Azure security event; send it as a custom event",
			      s);
	}
	if (!type || !json_object_is_type(type, json_type_string) ||
	    strcmp(json_object_get_string(type), "Security"))
		return reject(c, -EINVAL, "%s: EventType must be \"Security\"",
			      k->name);
	if (!cat || !json_object_is_type(cat, json_type_string) ||
	    strcmp(json_object_get_string(cat), k->category))
		return reject(c, -EINVAL, "%s: Category must be \"%s\"",
			      k->name, k->category);
	if (ver && (!json_object_is_type(ver, json_type_string) ||
		    strcmp(json_object_get_string(ver), "1.0")))
		return reject(c, -EINVAL,
			      "%s: PayloadSchemaVersion must be \"1.0\"",
			      k->name);
	if (empty && (!json_object_is_type(empty, json_type_boolean) ||
		      json_object_get_boolean(empty)))
		return reject(c, -EINVAL, "%s: IsEmpty must be false", k->name);
	if (!payload)
		return reject(c, -EINVAL, "%s: Payload missing", k->name);
	ret = check_payload_len(c, k->name, payload);
	if (ret)
		return ret;
	for (i = 0; i < json_object_array_length(payload); i++) {
		ret = check_item(c, k, i,
				 json_object_array_get_idx(payload, i));
		if (ret)
			return ret;
	}

	res = ser_event("Security", k->category, k->name,
			json_object_get(payload));
	if (!res)
		return reject(c, -ENOMEM, "out of memory");
	*out = res;
	return 0;
}

static bool valid_custom_name(const char *s, size_t len)
{
	size_t i;

	if (len < 1 || len > 64)
		return false;
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (i = 1; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
		      ch == '.'))
			return false;
	}
	return true;
}

static int check_custom_item(struct ctx *c, const char *name, size_t idx,
			     json_object *item)
{
	char where[160];
	json_object *v;

	snprintf(where, sizeof(where), "%s.Payload[%zu]", name, idx);
	if (!json_object_is_type(item, json_type_object))
		return reject(c, -EINVAL, "%s: expected an object", where);
	json_object_object_foreach(item, key, val) {
		(void)val;
		if (!*key || strlen(key) > 128)
			return reject(c, -EINVAL, "%s: field names must have 1 to 128 bytes",
				      where);
	}
	if (json_object_object_get_ex(item, "ExtraDetails", &v))
		return check_extra(c, where, v);
	return 0;
}

static int parse_custom(struct ctx *c, json_object *name, json_object *payload,
			json_object **out)
{
	json_object *res, *arr;
	const char *s;
	size_t i;
	int ret;

	if (!name || !json_object_is_type(name, json_type_string))
		return reject(c, -EINVAL, "custom: name missing or not a string");
	s = json_object_get_string(name);
	if (!valid_custom_name(s, json_object_get_string_len(name)))
		return reject(c, -EINVAL,
			      "custom: name must be a letter then up to 63 letters, digits, '_', '-' or '.'");
	if (sdk_azure_name(s))
		return reject(c, -EINVAL,
			      "custom: \"%s\" is an Azure event name; send it as an Azure event",
			      s);
	for (i = 0; i < ARRAY_SIZE(extended_names); i++)
		if (!strcasecmp(s, extended_names[i]))
			return reject(c, -EINVAL,
				      "custom: \"%s\" is an iotsec kernel event name; choose another",
				      s);
	if (!payload)
		return reject(c, -EINVAL, "custom: payload missing");
	if (json_object_is_type(payload, json_type_object)) {
		arr = json_object_new_array();
		if (!arr)
			return reject(c, -ENOMEM, "out of memory");
		json_object_array_add(arr, json_object_get(payload));
	} else {
		ret = check_payload_len(c, s, payload);
		if (ret)
			return ret;
		arr = json_object_get(payload);
	}
	for (i = 0; i < json_object_array_length(arr); i++) {
		ret = check_custom_item(c, s, i,
					json_object_array_get_idx(arr, i));
		if (ret) {
			json_object_put(arr);
			return ret;
		}
	}

	res = ser_event("Security", "Triggered", s, arr);
	if (!res)
		return reject(c, -ENOMEM, "out of memory");
	*out = res;
	return 0;
}

int sdk_msg_parse(const char *buf, size_t len, struct json_object **event,
		  enum sdk_kind *kind, char *reason, size_t reason_len)
{
	struct ctx c = { .reason = reason, .len = reason_len };
	json_object *root = NULL, *v = NULL, *op = NULL, *ev = NULL,
		    *name = NULL, *payload = NULL;
	struct json_tokener *tok;
	const char *ops;
	int ret;

	*event = NULL;
	if (reason_len)
		reason[0] = '\0';
	if (len == 0)
		return reject(&c, -EINVAL, "empty message");
	if (len > 64 * 1024)
		return reject(&c, -EMSGSIZE, "message larger than %d bytes",
			      64 * 1024);
	if (memchr(buf, '\0', len))
		return reject(&c, -EINVAL, "NUL byte in message");

	tok = json_tokener_new_ex(SDK_MAX_DEPTH);
	if (!tok)
		return reject(&c, -ENOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	if (!root) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		if (e == json_tokener_continue)
			ret = reject(&c, -EINVAL, "invalid JSON: truncated");
		else
			ret = reject(&c, -EINVAL, "invalid JSON at byte %zu: %s",
				     json_tokener_get_parse_end(tok),
				     json_tokener_error_desc(e));
		json_tokener_free(tok);
		return ret;
	}
	if (json_tokener_get_parse_end(tok) != len) {
		json_tokener_free(tok);
		json_object_put(root);
		return reject(&c, -EINVAL, "invalid JSON: trailing bytes");
	}
	json_tokener_free(tok);

	ret = reject(&c, -EINVAL, "request: expected an object");
	if (!json_object_is_type(root, json_type_object))
		goto out;
	json_object_object_foreach(root, key, val) {
		if (!strcmp(key, "v")) {
			v = val;
		} else if (!strcmp(key, "op")) {
			op = val;
		} else if (!strcmp(key, "event")) {
			ev = val;
		} else if (!strcmp(key, "name")) {
			name = val;
		} else if (!strcmp(key, "payload")) {
			payload = val;
		} else {
			ret = reject(&c, -EINVAL,
				     "request: unknown field \"%.64s\"", key);
			goto out;
		}
	}
	if (!v || !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) != 1) {
		ret = reject(&c, -EINVAL, "request: protocol version must be 1");
		goto out;
	}
	ops = op && json_object_is_type(op, json_type_string) ?
		json_object_get_string(op) : "";
	if (!strcmp(ops, "event") && !name && !payload) {
		if (!ev) {
			ret = reject(&c, -EINVAL, "request: event missing");
			goto out;
		}
		*kind = SDK_KIND_AZURE;
		ret = parse_azure(&c, ev, event);
	} else if (!strcmp(ops, "custom") && !ev) {
		*kind = SDK_KIND_CUSTOM;
		ret = parse_custom(&c, name, payload, event);
	} else {
		ret = reject(&c, -EINVAL,
			     "request: op must be \"event\" (with event) or \"custom\" (with name, payload)");
	}
out:
	json_object_put(root);
	if (!ret && reason_len)
		reason[0] = '\0';
	return ret;
}

static int stamp_item(json_object *item, const struct sdk_peer *peer)
{
	char buf[3][24];
	json_object *extra, *v[4];
	size_t i;

	if (!json_object_object_get_ex(item, "ExtraDetails", &extra)) {
		extra = json_object_new_object();
		if (!extra || json_object_object_add(item, "ExtraDetails", extra)) {
			json_object_put(extra);
			return -ENOMEM;
		}
	}
	snprintf(buf[0], sizeof(buf[0]), "%d", (int)peer->pid);
	snprintf(buf[1], sizeof(buf[1]), "%u", (unsigned int)peer->uid);
	snprintf(buf[2], sizeof(buf[2]), "%u", (unsigned int)peer->gid);
	v[0] = json_object_new_string(buf[0]);
	v[1] = json_object_new_string(buf[1]);
	v[2] = json_object_new_string(buf[2]);
	v[3] = json_object_new_string(peer->exe);
	for (i = 0; i < ARRAY_SIZE(v); i++) {
		if (!v[i] || json_object_object_add(extra, sender_keys[i], v[i])) {
			for (; i < ARRAY_SIZE(v); i++)
				json_object_put(v[i]);
			return -ENOMEM;
		}
	}
	return 0;
}

int sdk_msg_stamp(struct json_object *event, const struct sdk_peer *peer)
{
	json_object *payload;
	size_t i;
	int ret;

	if (!json_object_object_get_ex(event, "Payload", &payload))
		return -EINVAL;
	for (i = 0; i < json_object_array_length(payload); i++) {
		ret = stamp_item(json_object_array_get_idx(payload, i), peer);
		if (ret)
			return ret;
	}
	return 0;
}
