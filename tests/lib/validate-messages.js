// SPDX-License-Identifier: MIT
//
// Validate security messages with ajv the way Azure's own schema tests do:
// every schema of the reference directory added to one ajv instance, and
// {"valid": [...messages]} checked against test.json (each item must match
// messageRoot.json). Extended messages (MessageSchemaVersion iotsec-1.0)
// are checked against the project's schema instead (with the schemas next
// to it, which it refers to: iotsec-sdk-event_v1_0.json).
//
// usage: node validate-messages.js REFDIR EXTSCHEMA --self-test
//        node validate-messages.js REFDIR EXTSCHEMA FILE  (one message a line)
// Prints one TAP line per message when TAP=1, a summary otherwise; exits 1
// if any message is invalid or there is none.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const [refdir, extschema, ...args] = process.argv.slice(2);
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
for (const f of fs.readdirSync(refdir).filter((f) => f.endsWith('.json'))) {
	if (f === 'samples.json')
		continue;
	ajv.addSchema(JSON.parse(fs.readFileSync(path.join(refdir, f))));
}
// the extended message refers to its sibling schemas (SDK custom events)
const extdir = path.dirname(extschema);
for (const f of fs.readdirSync(extdir).filter((f) => f.endsWith('.json')))
	if (path.join(extdir, f) !== path.normalize(extschema))
		ajv.addSchema(JSON.parse(fs.readFileSync(path.join(extdir, f))));
const ext = ajv.compile(JSON.parse(fs.readFileSync(extschema)));
const azure = (msg) => ajv.validate('test.json', { valid: [msg] });

if (args[0] === '--self-test') {
	// Azure's samples: the valid ones pass, the invalid ones are refused.
	const samples = JSON.parse(fs.readFileSync(path.join(refdir, 'samples.json')));
	delete samples.$id;
	const ok = ajv.validate('test.json', samples);
	const bad = samples.invalid.filter((m) => azure(m)).length;
	console.log(`samples: ${samples.valid.length} valid, ${samples.invalid.length} invalid; ` +
		`test.json ${ok ? 'passes' : 'FAILS: ' + ajv.errorsText()}; ` +
		`${bad} invalid sample(s) accepted alone`);
	process.exit(ok && bad === 0 ? 0 : 1);
}

let n = 0, failed = 0;
const tap = process.env.TAP === '1';
for (const file of args) {
	const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
	for (const line of lines) {
		n++;
		let msg, ok, why = '';
		try {
			msg = JSON.parse(line);
		} catch (e) {
			ok = false;
			why = 'not JSON: ' + e.message;
		}
		if (msg !== undefined) {
			if (msg.MessageSchemaVersion === 'iotsec-1.0') {
				ok = ext(msg);
				why = ok ? '' : ajv.errorsText(ext.errors);
			} else {
				ok = azure(msg);
				why = ok ? '' : ajv.errorsText();
			}
		}
		if (!ok)
			failed++;
		if (tap || !ok)
			console.log(`${ok ? 'ok' : 'not ok'} ${n} message ${n} of ${path.basename(file)}` +
				(msg ? ` (${msg.MessageSchemaVersion}, ${msg.Events ? msg.Events.length : 0} events)` : '') +
				(ok ? '' : ': ' + why.slice(0, 2000)));
	}
}
if (!tap)
	console.log(`${n - failed} of ${n} messages valid`);
process.exit(failed || n === 0 ? 1 : 0);
