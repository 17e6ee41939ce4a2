// SPDX-License-Identifier: MIT
//
// Azure's own Node.js device SDK, as the reference for the wire test:
//
//   node sdk-send.js send CONNSTR [CERT KEY]   one security message, mid-1
//   node sdk-send.js sas HOST DEVICE MODULE|- KEYNAME|- KEY EXPIRY
//
// The SDK always connects to port 8883 (mqtts://host); WIRE_PORT points it
// at the test's broker instead. NODE_EXTRA_CA_CERTS names the test CA.
'use strict';

const tls = require('tls');
const fs = require('fs');

const port = Number(process.env.WIRE_PORT || 8883);
const tlsConnect = tls.connect;
tls.connect = function (...args) {
	for (const a of args) {
		if (a && typeof a === 'object' && Number(a.port) === 8883)
			a.port = port;
	}
	return tlsConnect.apply(this, args);
};

const device = require('azure-iot-device');
const common = require('azure-iot-common');
const { Mqtt } = require('azure-iot-device-mqtt');

function fail(err) {
	console.error('sdk-send: ' + (err && err.stack ? err.stack : err));
	process.exit(1);
}

async function send(cs, cert, key) {
	const Client = /;ModuleId=/.test(cs) ? device.ModuleClient : device.Client;
	const client = Client.fromConnectionString(cs, Mqtt);
	if (cert)
		client.setOptions({ cert: fs.readFileSync(cert, 'utf8'),
				    key: fs.readFileSync(key, 'utf8') });
	await client.open();
	const msg = new device.Message(JSON.stringify({ hello: 'iotsec' }));
	msg.messageId = 'mid-1';
	msg.contentType = 'application/json';
	msg.contentEncoding = 'utf-8';
	msg.setAsSecurityMessage();
	await client.sendEvent(msg);
	await client.close();
	console.log('sent');
}

function sas(host, dev, mod, keyName, key, expiry) {
	let resource = host + '/devices/' + dev;
	if (mod !== '-')
		resource += '/modules/' + mod;
	// What SharedAccessKeyAuthenticationProvider does for every token.
	const t = common.SharedAccessSignature.create(
		common.encodeUriComponentStrict(resource),
		keyName === '-' ? null : keyName, key, Number(expiry));
	console.log(t.toString());
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'send')
	send(...rest).catch(fail);
else if (cmd === 'sas')
	sas(...rest);
else
	fail('usage: sdk-send.js send CONNSTR [CERT KEY] | sas HOST DEVICE MODULE KEYNAME KEY EXPIRY');
