// SPDX-License-Identifier: MIT
/*
 * Validate events (one JSON object per file, as the SDK server, the login
 * watcher, the snapshots and the heartbeat produce them) the way Azure
 * does: each is wrapped in a minimal security message (message_v1_0.json:
 * AgentVersion, AgentId, MessageSchemaVersion, Events with Id and
 * timestamps added) and checked with ajv against messageRoot.json.
 * Custom SDK events (names Azure does not define) are checked against
 * schemas/iotsec-sdk-event_v1_0.json instead.
 *
 * usage: node sdk-validate.js NODE_MODULES AZURE_SCHEMA_DIR IOTSEC_SCHEMA
 *        [--expect-invalid] FILE...
 * Prints "ok FILE" or "invalid FILE: errors" per file; exits 1 when any
 * file is not as expected (valid, or with --expect-invalid, invalid).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const [modules, azureDir, customSchema, ...rest] = process.argv.slice(2);
const Ajv = require(path.join(modules, 'ajv')).default;
const addFormats = require(path.join(modules, 'ajv-formats')).default;

let expectInvalid = false;
const files = rest.filter((a) => {
	if (a === '--expect-invalid') {
		expectInvalid = true;
		return false;
	}
	return true;
});

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
for (const f of fs.readdirSync(azureDir)) {
	if (!f.endsWith('.json') || f === 'samples.json' || f === 'test.json')
		continue;
	ajv.addSchema(JSON.parse(fs.readFileSync(path.join(azureDir, f))));
}
const azure = ajv.getSchema('messageRoot.json');
const custom = ajv.compile(JSON.parse(fs.readFileSync(customSchema)));
const azureNames = new Set(['ConnectionCreate', 'Login', 'ProcessCreate',
	'ProcessTerminate', 'ListeningPorts', 'FirewallConfiguration',
	'LocalUsers', 'ConnectedHardware', 'OSBaseline', 'SystemInformation',
	'Diagnostic', 'ConfigurationError', 'DroppedEventsStatistics',
	'MessageStatistics']);

/* Azure's samples first: the validator itself must tell good from bad. */
const samples = JSON.parse(fs.readFileSync(path.join(azureDir, 'samples.json')));
for (const m of samples.valid)
	if (!azure(m)) {
		console.log('validator self-test: a valid sample is refused');
		process.exit(2);
	}
for (const m of samples.invalid)
	if (azure(m)) {
		console.log('validator self-test: an invalid sample is accepted');
		process.exit(2);
	}

let n = 0;
const uuid = () => '00000000-0000-4000-8000-' + String(n++).padStart(12, '0');
let bad = 0;
for (const f of files) {
	let ev;
	try {
		ev = JSON.parse(fs.readFileSync(f, 'utf8'));
	} catch (e) {
		console.log(`invalid ${f}: not JSON: ${e.message}`);
		bad += expectInvalid ? 0 : 1;
		continue;
	}
	const stamped = Object.assign({
		Id: uuid(),
		TimestampLocal: '2026-11-26T05:00:00.000+01:00',
		TimestampUTC: '2026-11-26T04:00:00.000Z',
	}, ev);
	let ok, errors;
	if (azureNames.has(ev.Name)) {
		const msg = {
			AgentVersion: '0.1.0',
			AgentId: uuid(),
			MessageSchemaVersion: '1.0',
			Events: [stamped],
		};
		ok = azure(msg);
		errors = azure.errors;
	} else {
		ok = custom(stamped);
		errors = custom.errors;
	}
	if (ok) {
		console.log(`ok ${f}`);
	} else {
		/* oneOf over every event kind: show the errors of this kind's schema. */
		const mine = (errors || []).filter((e) => !/oneOf\/\d+\/\$ref/.test(e.schemaPath) ||
			e.schemaPath.includes(ev.Name));
		console.log(`invalid ${f}: ` + JSON.stringify((mine.length ? mine : errors).slice(0, 6).map(
			(e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`)));
	}
	if (ok === expectInvalid)
		bad++;
}
process.exit(bad ? 1 : 0);
