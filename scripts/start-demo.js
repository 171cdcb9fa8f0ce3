#!/usr/bin/env node
// `npm start`: Node-RED 4.1 with this package, its embedded broker and the demo flow (the
// "simulated fleet" example), in a user directory of its own (.demo/). Nothing else to set up.
//
//   PORT              editor and HTTP port (default 1880)
//   IOTDM_MQTT_PORT   the embedded broker's port (default 1883)
//   IOTDM_API_KEY, IOTDM_API_TOKEN   the management-requests API's key and token
//                     (default demo-key / demo-token: for the demo on 127.0.0.1 alone)
//   npm start -- --keep   keep the flow you edited in .demo/ instead of the demo flow
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const crypto = require('crypto');

const root = path.join(__dirname, '..');
// IOTDM_DEMO_DIR: another user directory (the README test runs the demo in a temporary one)
const userDir = process.env.IOTDM_DEMO_DIR ? path.resolve(process.env.IOTDM_DEMO_DIR) : path.join(root, '.demo');
const keep = process.argv.includes('--keep');
const uiPort = Number(process.env.PORT || 1880);
const mqttPort = Number(process.env.IOTDM_MQTT_PORT || 1883);
const apiKey = process.env.IOTDM_API_KEY || 'demo-key';
const apiToken = process.env.IOTDM_API_TOKEN || 'demo-token';

const pkgName = require(path.join(root, 'package.json')).name;
// Node-RED loads the package as an installed module (nodes, icons, locales, examples)
const link = path.join(userDir, 'node_modules', ...pkgName.split('/'));
fs.mkdirSync(path.dirname(link), { recursive: true });
// an older demo linked it under its unscoped name
fs.rmSync(path.join(userDir, 'node_modules', 'node-red-contrib-iotdm'), { force: true });
try {
  fs.rmSync(link, { recursive: true, force: true });
} catch {
  /* not there */
}
fs.symlinkSync(root, link, 'dir');
fs.writeFileSync(path.join(userDir, 'package.json'), JSON.stringify({ name: 'iotdm-demo', private: true, dependencies: { [pkgName]: 'file:..' } }, null, 2));

const flowFile = path.join(userDir, 'flows.json');
if (!keep || !fs.existsSync(flowFile)) {
  const flow = JSON.parse(fs.readFileSync(path.join(root, 'examples', 'simulated-fleet.json'), 'utf8'));
  for (const n of flow) {
    // the demo's broker lets in enrolled devices only (the example, imported alone, runs in development mode)
    if (n.type === 'iotdm-platform') Object.assign(n, { port: mqttPort, api: true, apiRoot: '/api/v0002', access: 'enrolled', gatewayPolicy: 'auto' });
    if (n.type === 'iotdm-device') n.broker = `mqtt://127.0.0.1:${mqttPort}`;
  }
  fs.writeFileSync(flowFile, JSON.stringify(flow, null, 2));
}
// the API key and token are Node-RED credentials of the platform node (flows_cred.json), never in flows.json
const credFile = path.join(userDir, 'flows_cred.json');
const creds = fs.existsSync(credFile) ? JSON.parse(fs.readFileSync(credFile, 'utf8')) : {};
const flowNow = JSON.parse(fs.readFileSync(flowFile, 'utf8'));
// each gateway's own token, generated once and kept with the credentials; enrolled over the API below
const gateways = [];
for (const n of flowNow) {
  if (n.type === 'iotdm-platform') creds[n.id] = { ...creds[n.id], apiKey, apiToken };
  if (n.type === 'iotdm-device') {
    const fresh = !(creds[n.id] && creds[n.id].password);
    if (fresh) creds[n.id] = { ...creds[n.id], password: crypto.randomBytes(18).toString('base64url') };
    gateways.push({ typeId: n.typeId, deviceId: n.deviceId, classId: n.mode === 'gateway' ? 'Gateway' : 'Device', authToken: creds[n.id].password, fresh });
  }
}
fs.writeFileSync(credFile, JSON.stringify(creds, null, 2));

fs.writeFileSync(
  path.join(userDir, 'settings.js'),
  `module.exports = {
  uiPort: ${uiPort},
  uiHost: '127.0.0.1',
  flowFile: 'flows.json',
  flowFilePretty: true,
  // the demo's credentials file stays readable; use a credentialSecret for anything real
  credentialSecret: false,
  contextStorage: { default: { module: 'localfilesystem' } },
  telemetry: { enabled: false },
  editorTheme: { tours: false, projects: { enabled: false } },
  logging: { console: { level: 'info', metrics: false, audit: false } },
};
`,
);

const redJs = require.resolve('node-red/red.js');
console.log(
  `iotdm demo: editor http://127.0.0.1:${uiPort}/  embedded broker mqtt://127.0.0.1:${mqttPort}  API http://127.0.0.1:${uiPort}/api/v0002 (key ${apiKey})`,
);
// the demo flow builds the firmware image's URI from this port
const env = { ...process.env, IOTDM_DEMO_PORT: String(uiPort) };
const child = spawn(process.execPath, [redJs, '--userDir', userDir, '--settings', path.join(userDir, 'settings.js')], { stdio: 'inherit', cwd: root, env });
const stop = (sig) => child.kill(sig);
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
child.on('exit', (code) => process.exit(code ?? 0));

// Enrol the demo's gateway as an operator would, over IBM's bulk API (POST /bulk/devices/add), once
// Node-RED answers: the embedded broker lets in enrolled devices only. An enrolment kept from an
// earlier run stays unless the token was new (then it is replaced).
const api = `http://127.0.0.1:${uiPort}/api/v0002`;
const auth = { authorization: `Basic ${Buffer.from(`${apiKey}:${apiToken}`).toString('base64')}`, 'content-type': 'application/json' };
async function enrolDemoDevices() {
  for (let attempt = 0; attempt < 120; attempt++) {
    try {
      for (const g of gateways) {
        const { fresh, ...entry } = g;
        const known = await fetch(`${api}/device/types/${g.typeId}/devices/${g.deviceId}`, { headers: auth });
        if (known.status === 200 && !fresh) continue;
        if (known.status !== 200 && known.status !== 404) throw new Error(`HTTP ${known.status}`);
        if (known.status === 200)
          await fetch(`${api}/bulk/devices/remove`, { method: 'POST', headers: auth, body: JSON.stringify([{ typeId: g.typeId, deviceId: g.deviceId }]) });
        const r = await fetch(`${api}/bulk/devices/add`, { method: 'POST', headers: auth, body: JSON.stringify([entry]) });
        if (r.status !== 201) throw new Error(`HTTP ${r.status}`);
        console.log(`iotdm demo: enrolled ${g.typeId}:${g.deviceId} (its token is in .demo/flows_cred.json)`);
      }
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  console.error('iotdm demo: could not enrol the demo gateway over the API');
}
enrolDemoDevices();
