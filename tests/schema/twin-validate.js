// SPDX-License-Identifier: MIT
//
// Validate iotsecd's reported twin documents against
// schemas/iotsec-twin-reported_v1_0.json with ajv (as the other schema
// tests do), and check the rule IoT Hub puts on twin keys: no '.', '$' or
// space, at most 10 levels.
//
// usage: node twin-validate.js SCHEMA FILE   (one JSON document a line)
//        node twin-validate.js SCHEMA --self-test
// Exits 1 when a document is invalid or there is none.
'use strict';
const fs = require('fs');
const Ajv = require('ajv');

const [schemaFile, arg] = process.argv.slice(2);
const ajv = new Ajv({ strict: false, allErrors: true });
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile)));

function hubKeys(o, depth, where) {
	if (depth > 10)
		return `${where}: deeper than 10 levels`;
	if (o === null || typeof o !== 'object' || Array.isArray(o))
		return null;
	for (const k of Object.keys(o)) {
		if (/[.$ ]/.test(k))
			return `${where}/${k}: a twin key with '.', '$' or space`;
		const e = hubKeys(o[k], depth + 1, `${where}/${k}`);
		if (e)
			return e;
	}
	return null;
}

function check(doc) {
	if (!validate(doc))
		return ajv.errorsText(validate.errors);
	return hubKeys(doc, 1, '');
}

let docs;
if (arg === '--self-test') {
	// a document that must fail: a source that does not exist
	const bad = { iotsec: { configuration: { a: { value: 1, source: 'hub' } } } };
	if (!check(bad)) {
		console.log('self-test: an invalid document passed');
		process.exit(1);
	}
	console.log('self-test: an invalid document refused');
	process.exit(0);
}
docs = fs.readFileSync(arg, 'utf8').split('\n').filter((l) => l.trim());
let bad = 0;
for (const [i, l] of docs.entries()) {
	const e = check(JSON.parse(l));
	if (e) {
		bad++;
		console.log(`document ${i + 1}: ${e}`);
	}
}
console.log(`${docs.length} document(s), ${bad} invalid`);
process.exit(docs.length && !bad ? 0 : 1);
