// SPDX-License-Identifier: MIT
/*
 * Check iotsecd's output (one message per line) for tests/host/sdk-e2e.sh.
 * usage: node sdk-e2e-check.js NODE_MODULES AZURE_DIR SDK_EVENT_SCHEMA OUT
 *        SEND_PID UID LISTEN_PORT LISTEN_PID
 * The extended message schema is read next to SDK_EVENT_SCHEMA.
 * Prints "PASS what" or "FAIL what: detail" per check.
 */
'use strict';
const fs = require('fs');
const path = require('path');

const [modules, azureDir, sdkSchema, out, sendPid, uid, port, listenPid] =
	process.argv.slice(2);
const Ajv = require(path.join(modules, 'ajv')).default;
const addFormats = require(path.join(modules, 'ajv-formats')).default;
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
for (const f of fs.readdirSync(azureDir))
	if (f.endsWith('.json') && f !== 'samples.json' && f !== 'test.json')
		ajv.addSchema(JSON.parse(fs.readFileSync(path.join(azureDir, f))));
const azure = ajv.getSchema('messageRoot.json');
const sdkEventSchema = JSON.parse(fs.readFileSync(sdkSchema));
ajv.addSchema(sdkEventSchema);
const sdkEvent = ajv.getSchema(sdkEventSchema.$id);
const extended = ajv.compile(JSON.parse(fs.readFileSync(
	path.join(path.dirname(sdkSchema), 'iotsec-extended-message_v1_0.json'))));

const result = (ok, what, detail) =>
	console.log(ok ? `PASS ${what}` : `FAIL ${what}: ${detail}`);

const msgs = fs.readFileSync(out, 'utf8').split('\n').filter((l) => l)
	.map((l) => JSON.parse(l));
const azureMsgs = msgs.filter((m) => m.MessageSchemaVersion === '1.0');
const extMsgs = msgs.filter((m) => m.MessageSchemaVersion !== '1.0');
const events = (ms) => ms.flatMap((m) => m.Events);
const az = events(azureMsgs);
const ext = events(extMsgs);

const bad = azureMsgs.filter((m) => !azure(m));
result(azureMsgs.length > 0 && bad.length === 0,
	`all ${azureMsgs.length} Azure messages validate against messageRoot.json`,
	bad.length ? JSON.stringify(azure(bad[0]) || azure.errors.slice(0, 3)) : 'none');

const items = (evs, name) => evs.filter((e) => e.Name === name)
	.flatMap((e) => e.Payload);
const x = (it, k) => (it.ExtraDetails || {})[k];

const sdkLogin = items(az, 'Login').find((it) => x(it, 'SenderProcessId') !== undefined);
result(sdkLogin && x(sdkLogin, 'SenderProcessId') === sendPid &&
	x(sdkLogin, 'SenderUserId') === uid &&
	/\/send_event$/.test(x(sdkLogin, 'SenderExecutable')) &&
	sdkLogin.UserName === 'alice',
	`the example's Login event is published stamped with pid ${sendPid}, uid ${uid}`,
	JSON.stringify(sdkLogin));

const door = ext.find((e) => e.Name === 'Door.Opened');
result(door && sdkEvent(door) && x(door.Payload[0], 'SenderProcessId') &&
	door.Payload[0].Door === 'front',
	'the custom event is published in the extended message, stamped and valid',
	JSON.stringify(door) + JSON.stringify(sdkEvent.errors));

/* The extended message as a whole, as a consumer checks it. */
const doorMsg = extMsgs.find((m) => m.Events.some((e) => e.Name === 'Door.Opened'));
const badExt = extMsgs.filter((m) => !extended(m));
result(doorMsg && badExt.length === 0,
	`all ${extMsgs.length} extended messages (with the SDK custom event) ` +
	'validate against iotsec-extended-message_v1_0.json',
	doorMsg ? JSON.stringify(extended(badExt[0]) || extended.errors.slice(0, 3)) :
		'no extended message carries Door.Opened');

/* ... and the schema can fail: custom events broken as a bug would. */
const mutate = (f) => {
	const m = JSON.parse(JSON.stringify(doorMsg || { Events: [] }));
	const e = m.Events.find((ev) => ev.Name === 'Door.Opened');
	if (e)
		f(e);
	return m;
};
const controls = {
	'unstamped': mutate((e) => delete e.Payload[0].ExtraDetails.SenderProcessId),
	'kernel event name': mutate((e) => { e.Name = 'KernelModuleLoad'; }),
	'Azure event name': mutate((e) => { e.Name = 'Login'; }),
	'empty payload': mutate((e) => { e.Payload = []; }),
	'bad name': mutate((e) => { e.Name = '9lives'; }),
};
const accepted = Object.keys(controls).filter((k) => extended(controls[k]));
result(doorMsg && accepted.length === 0,
	`the extended schema refuses broken custom events (${Object.keys(controls).length} controls)`,
	'accepted: ' + accepted.join(', '));

const wt = items(az, 'Login').find((it) => x(it, 'Terminal') === 'pts/9');
result(wt && wt.Result === 'Success' && wt.Operation === 'Login' &&
	wt.UserName === 'root' && wt.RemoteAddress === '198.51.100.4' &&
	wt.ProcessId === 999,
	'a wtmp login is published as Login Success with its fields',
	JSON.stringify(wt));

const bt = items(az, 'Login').find((it) => it.UserName === 'mallory');
result(bt && bt.Result === 'Fail' && x(bt, 'Terminal') === 'ssh:notty',
	'a btmp record is published as Login Fail', JSON.stringify(bt));

const lp = items(az, 'ListeningPorts').find((it) => it.LocalPort === port &&
	it.Protocol === 'TCP');
result(lp && x(lp, 'ProcessId') === listenPid && lp.LocalAddress === '127.0.0.1',
	`the test's listening socket (port ${port}, pid ${listenPid}) is in ListeningPorts`,
	JSON.stringify(lp));

for (const n of ['SystemInformation', 'OSBaseline'])
	result(az.some((e) => e.Name === n && e.Category === 'Periodic'),
		`a ${n} snapshot is published`, 'missing');
result(!az.some((e) => e.Name === 'LocalUsers'),
	'no LocalUsers snapshot (local_users: false in the config)',
	'LocalUsers published');

const drop = items(az, 'DroppedEventsStatistics').find((it) => it.Queue === 'High');
result(drop && x(drop, 'SdkRejectedEvents') === '1',
	'DroppedEventsStatistics counts the rejected SDK event',
	JSON.stringify(drop));
