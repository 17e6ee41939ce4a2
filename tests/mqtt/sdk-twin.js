// SPDX-License-Identifier: MIT
//
// Azure's own Node.js device SDK using its twin, as the reference for
// tests/host/twin-sdk-wire.sh:
//
//   node sdk-twin.js CONNSTR PATCH_JSON
//
// open, getTwin() (the test answers the GET), listen to desired
// properties, one reported PATCH (the test answers 204), close. WIRE_PORT
// and NODE_EXTRA_CA_CERTS as for sdk-send.js.
'use strict';

const tls = require('tls');

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
const { Mqtt } = require('azure-iot-device-mqtt');

function fail(err) {
	console.error('sdk-twin: ' + (err && err.stack ? err.stack : err));
	process.exit(1);
}

async function run(cs, patch) {
	const Client = /;ModuleId=/.test(cs) ? device.ModuleClient : device.Client;
	const client = Client.fromConnectionString(cs, Mqtt);
	await client.open();
	const twin = await client.getTwin();
	console.log('full ' + JSON.stringify(twin.properties.desired));
	await new Promise((resolve) => {
		twin.on('properties.desired', () => resolve());
	});
	await new Promise((resolve, reject) => {
		twin.properties.reported.update(JSON.parse(patch),
			(err) => err ? reject(err) : resolve());
	});
	console.log('reported');
	await client.close();
}

run(process.argv[2], process.argv[3]).catch(fail);
