'use strict';
// Loaded with `node --require` before `node-red-dev validate` (the flow library's scorecard, a
// devDependency) by test/editor/scorecard.test.ts. The scorecard fetches two kinds of URL with
// axios; a test must not depend on anything but the npm registry, reached the way npm reaches it
// (its configured registry, proxy and CA):
//   - the flow library's catalogue (catalogue.nodered.org) is only used to warn about packages
//     and node types with similar names: we answer it with a catalogue that lists no module;
//   - a package document (https://registry.npmjs.org/<name>) is read with `npm view <name> --json`
//     (npm's own warnings stay out of the scorecard's output)
//     and given the shape the scorecard reads: dist-tags, and the engines of the latest version.
// Every other URL goes to axios unchanged.
const path = require('path');
const { execFileSync } = require('child_process');

const devDir = path.dirname(require.resolve('node-red-dev/package.json'));
// the axios instance the scorecard's own modules get from require('axios')
const axios = require(require.resolve('axios', { paths: [path.join(devDir, 'src', 'libs')] }));

const CATALOGUE = /^https:\/\/catalogue\.nodered\.org\//;
const PACKAGE_DOCUMENT = /^https:\/\/registry\.npmjs\.org\/((?:@[^/?#]+\/)?[^/?#]+)$/;

function packageDocument(name) {
  const text = execFileSync('npm', ['view', name, '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  const view = JSON.parse(text);
  const latest = view['dist-tags'].latest;
  // `npm view` describes the latest version; the registry's document keys each version
  return { ...view, versions: { [latest]: { version: latest, engines: view.engines } } };
}

const realGet = axios.get.bind(axios);
axios.get = async function offlineSafeGet(url, ...rest) {
  if (CATALOGUE.test(url)) return { status: 200, data: { modules: [] } };
  const doc = PACKAGE_DOCUMENT.exec(url);
  if (doc) return { status: 200, data: packageDocument(decodeURIComponent(doc[1])) };
  return realGet(url, ...rest);
};
