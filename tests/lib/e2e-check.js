// SPDX-License-Identifier: MIT
//
// Check what mosquitto_sub -v saw in the end-to-end test: every message
// valid (validate-messages.js does that), and the events the test caused
// present exactly, aggregated as configured.
//
// usage: node e2e-check.js SUBLOG EXPECT.json
//   EXPECT: { "daemon_pid": N, "checks": [ { "what": "...", "name":
//     "ProcessCreate", "match": { "Field": "substring", ... },
//     "hits": N, "max_records": N } ] }
// Prints TAP lines from number START (env TAP_START, default 1).
'use strict';
const fs = require('fs');

const [sublog, expectFile] = process.argv.slice(2);
const expect = JSON.parse(fs.readFileSync(expectFile, 'utf8'));
let n = Number(process.env.TAP_START || 1);
let failed = 0;
const tap = (ok, what) => {
	console.log(`${ok ? 'ok' : 'not ok'} ${n++} ${what}`);
	if (!ok)
		failed++;
};

const records = [];	// { topic, name, payload, event }
for (const line of fs.readFileSync(sublog, 'utf8').split('\n')) {
	const sp = line.indexOf(' ');
	if (sp < 0)
		continue;
	const topic = line.slice(0, sp);
	let msg;
	try {
		msg = JSON.parse(line.slice(sp + 1));
	} catch (e) {
		continue;	// the probe messages
	}
	for (const ev of msg.Events || [])
		for (const p of ev.Payload || [])
			records.push({ topic, name: ev.Name, payload: p, event: ev });
}

for (const c of expect.checks) {
	const found = records.filter((r) => r.name === c.name &&
		Object.entries(c.match).every(([k, v]) =>
			typeof r.payload[k] === 'string' ? r.payload[k].includes(v) :
			r.payload[k] === v));
	const hits = found.reduce((s, r) => s + Number((r.payload.ExtraDetails || {}).HitCount || 1), 0);
	const okHits = hits === c.hits;
	const okRecs = found.length >= 1 && found.length <= c.max_records;
	tap(okHits && okRecs, `${c.what}: ${found.length} record(s), ${hits} hit(s) ` +
		`(want ${c.hits} in at most ${c.max_records})` +
		(found[0] ? ` e.g. ${JSON.stringify(found[0].payload).slice(0, 300)}` : ''));
	if (c.topic_suffix)
		tap(found.length > 0 && found.every((r) => r.topic.endsWith(c.topic_suffix)),
			`${c.what}: published on a topic ending in ${c.topic_suffix}`);
}

// What the kernel recorded before iotsecd subscribed and excluded itself
// (its own start: the exec of iotsecd) is BeforeAgentStart, and reported.
const own = records.filter((r) => (r.payload.ProcessId === expect.daemon_pid ||
	String(r.payload.Executable || '').endsWith('/iotsecd')) &&
	(r.payload.ExtraDetails || {}).BeforeAgentStart !== 'true');
tap(own.length === 0, `no event of iotsecd itself once subscribed (it excludes itself): ${own.length} found`);
for (const r of own.slice(0, 3))
	console.log(`# ${r.name}: ${JSON.stringify(r.payload).slice(0, 300)}`);
process.exit(failed ? 1 : 0);
