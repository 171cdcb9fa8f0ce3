#!/usr/bin/env node
// Node-RED looks for a node's .html, and for icons/ and locales/, beside the node's compiled .js:
// copy them from the source layout into dist/nodes/.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'dist', 'nodes');

function copyDir(src, dst) {
  if (!fs.existsSync(src)) return;
  fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    if (e.isDirectory()) copyDir(s, d);
    else fs.copyFileSync(s, d);
  }
}

fs.mkdirSync(out, { recursive: true });
for (const dir of ['nodes', path.join('nodes', 'plugins')]) {
  const src = path.join(root, dir);
  if (!fs.existsSync(src)) continue;
  const dst = path.join(root, 'dist', dir);
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src)) {
    if (f.endsWith('.html')) fs.copyFileSync(path.join(src, f), path.join(dst, f));
  }
}
copyDir(path.join(root, 'icons'), path.join(out, 'icons'));
copyDir(path.join(root, 'locales'), path.join(out, 'locales'));
// a plugin's catalogue is looked up beside the plugin's .js: dist/nodes/plugins/locales/<lang>/<plugin>.json
const plugins = path.join(root, 'nodes', 'plugins');
if (fs.existsSync(plugins)) {
  for (const f of fs.readdirSync(plugins).filter((f) => f.endsWith('.html'))) {
    const base = f.slice(0, -'.html'.length);
    for (const lang of fs.readdirSync(path.join(root, 'locales'))) {
      const cat = path.join(root, 'locales', lang, `${base}.json`);
      if (!fs.existsSync(cat)) continue;
      fs.mkdirSync(path.join(out, 'plugins', 'locales', lang), { recursive: true });
      fs.copyFileSync(cat, path.join(out, 'plugins', 'locales', lang, `${base}.json`));
    }
  }
}
