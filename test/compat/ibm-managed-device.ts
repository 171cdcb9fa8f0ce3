/**
 * IBM's own Node device client (`ibmiotf` 0.2.41, `IotfManagedDevice`), run as a child process by
 * ibm-node-client.test.ts. It dials ssl://<mqtt-server>:8883 as `d:org:type:id` with
 * `use-token-auth` and speaks the bare topics; the embedded broker maps them. It prints one JSON line
 * per event; on a reboot or factory reset it answers 202 and exits (the device restarts).
 */
const iotf = require('ibmiotf');

const say = (event: string, data: Record<string, unknown> = {}) => process.stdout.write(JSON.stringify({ event, ...data }) + '\n');

const device = new iotf.IotfManagedDevice({
  org: process.env.IBM_ORG,
  type: process.env.IBM_TYPE,
  id: process.env.IBM_ID,
  'auth-method': 'token',
  'auth-token': process.env.IBM_TOKEN,
  'mqtt-server': '127.0.0.1',
});
device.log.setLevel('silent');
device.on('connect', () => {
  say('connect');
  device.manage(3600, true, true);
});
device.on('dmResponse', (r: { reqId: string; rc: number }) => say('dmResponse', { rc: r.rc }));
device.on('dmAction', (request: { reqId: string; action: string }) => {
  say('dmAction', { action: request.action });
  device.respondDeviceAction(request, device.RESPONSECODE.ACCEPTED);
  // the device restarts: the process ends once the 202 is out
  setTimeout(() => process.exit(0), 300);
});
device.on('firmwareDownload', () => {
  say('firmwareDownload');
  device.changeState(device.FIRMWARESTATE.DOWNLOADING);
  setTimeout(() => device.changeState(device.FIRMWARESTATE.DOWNLOADED), 100);
});
device.on('firmwareUpdate', () => {
  say('firmwareUpdate');
  device.changeUpdateState(device.FIRMWAREUPDATESTATE.IN_PROGRESS);
  setTimeout(() => {
    device.changeUpdateState(device.FIRMWAREUPDATESTATE.SUCCESS);
    device.changeState(device.FIRMWARESTATE.IDLE);
  }, 100);
});
device.on('error', (err: unknown) => say('error', { error: String(err) }));
device.connect();
