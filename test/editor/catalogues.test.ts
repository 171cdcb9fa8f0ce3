/**
 * The message catalogues and help of every node file, read from the source tree: en-US and fr have
 * the same keys (and the same __placeholders__ in each message), every key the runtime asks RED._ for
 * and every key the editor asks for (data-i18n, this._) exists, every help follows Node-RED's style,
 * and every node points at an icon of the package that is white on transparent.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const LOCALES = path.join(ROOT, 'locales');
const NODES = path.join(ROOT, 'nodes');
const LANGS = ['en-US', 'fr'];
const HEADINGS: Record<string, { inputs: string; outputs: string; details: string; references: string }> = {
  'en-US': { inputs: 'Inputs', outputs: 'Outputs', details: 'Details', references: 'References' },
  fr: { inputs: 'Entrées', outputs: 'Sorties', details: 'Détails', references: 'Références' },
};

type Tree = { [k: string]: string | Tree };

function flatten(t: Tree, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(t)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === 'string') out[key] = v;
    else flatten(v, key, out);
  }
  return out;
}

function catalogue(lang: string, base: string): Record<string, string> {
  return flatten(JSON.parse(fs.readFileSync(path.join(LOCALES, lang, `${base}.json`), 'utf8')) as Tree);
}

/** every catalogue of a language, merged (a node file may use another file's namespace) */
function allKeys(lang: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(path.join(LOCALES, lang)).filter((f) => f.endsWith('.json'))) Object.assign(out, catalogue(lang, f.slice(0, -5)));
  return out;
}

const placeholders = (s: string) => [...s.matchAll(/__([A-Za-z0-9_]+)__/g)].map((m) => m[1]).sort();

function sourceFiles(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p, ext));
    else if (e.name.endsWith(ext)) out.push(p);
  }
  return out;
}

/** node types the package registers, with the html file, its category and the icon it names */
function nodeTypes(): { type: string; file: string; category: string; icon?: string; inputs: number; outputs: number }[] {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const out = [];
  for (const js of Object.values(pkg['node-red'].nodes) as string[]) {
    const html = path.join(ROOT, js.replace(/^dist\//, '').replace(/\.js$/, '.html'));
    const src = fs.readFileSync(html, 'utf8');
    for (const m of src.matchAll(/registerType\(\s*'([^']+)'\s*,\s*\{([\s\S]*?)\n {2}\}\);/g)) {
      const body = m[2];
      out.push({
        type: m[1],
        file: html,
        category: /category:\s*'([^']+)'/.exec(body)?.[1] ?? '',
        icon: /\n {4}icon:\s*'([^']+)'/.exec(body)?.[1],
        inputs: Number(/\n {4}inputs:\s*(\d+)/.exec(body)?.[1] ?? 0),
        outputs: Number(/\n {4}outputs:\s*(\d+)/.exec(body)?.[1] ?? 0),
      });
    }
  }
  return out;
}

describe('editor: catalogues, help and icons', function () {
  const bases = fs
    .readdirSync(path.join(LOCALES, 'en-US'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5));

  it('en-US and fr have the same files, the same keys and the same placeholders, none empty', () => {
    for (const lang of LANGS) {
      const files = fs.readdirSync(path.join(LOCALES, lang)).sort();
      assert.deepEqual(files, fs.readdirSync(path.join(LOCALES, 'en-US')).sort(), `files of locales/${lang}`);
    }
    assert.ok(bases.length >= 5, `catalogues: ${bases}`);
    for (const base of bases) {
      const en = catalogue('en-US', base);
      const fr = catalogue('fr', base);
      assert.deepEqual(Object.keys(fr).sort(), Object.keys(en).sort(), `keys of ${base}.json`);
      const top = Object.keys(JSON.parse(fs.readFileSync(path.join(LOCALES, 'en-US', `${base}.json`), 'utf8')));
      assert.deepEqual(top, [base], `${base}.json has the single top-level key "${base}"`);
      for (const k of Object.keys(en)) {
        assert.ok(en[k].trim() && fr[k].trim(), `${k} is empty`);
        assert.deepEqual(placeholders(fr[k]), placeholders(en[k]), `placeholders of ${k}`);
      }
    }
  });

  it("every RED._('…') key of the runtime exists in en-US, and template keys name an existing branch", () => {
    const en = allKeys('en-US');
    const files = sourceFiles(NODES, '.ts');
    let literal = 0;
    for (const f of files) {
      const src = fs.readFileSync(f, 'utf8');
      for (const m of src.matchAll(/RED\._\(\s*(['"`])([^'"`]+)\1/g)) {
        const key = m[2];
        if (m[1] === '`' && key.includes('${')) {
          // `mgmt-request.status.${state}`: the fixed part must be a branch with messages under it
          const prefix = key.slice(0, key.indexOf('${'));
          assert.ok(
            Object.keys(en).some((k) => k.startsWith(prefix)),
            `${path.relative(ROOT, f)}: no key under ${prefix}`,
          );
        } else {
          literal++;
          assert.ok(key in en, `${path.relative(ROOT, f)}: RED._('${key}') is not in locales/en-US`);
        }
      }
    }
    assert.ok(literal > 50, `only ${literal} RED._ keys found: the scan is broken`);
  });

  it('the keys a template expands to exist: connection states, API messages, device config problems', () => {
    const en = allKeys('en-US');
    for (const s of ['connecting', 'connected', 'disconnected', 'closed']) {
      assert.ok(`mgmt-request.status.${s}` in en, s);
      assert.ok(`device-responder.state.${s}` in en, s);
      assert.ok(`firmware-state.state.${s}` in en, s);
    }
    // the API's Translate keys are the ApiMessageKey union of nodes/shared/http-api.ts
    const api = fs.readFileSync(path.join(NODES, 'shared', 'http-api.ts'), 'utf8');
    const union = /export type ApiMessageKey =([^;]+);/.exec(api)?.[1] ?? '';
    const keys = [...union.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    assert.ok(keys.length >= 10, `ApiMessageKey: ${keys}`);
    for (const k of keys) assert.ok(`iotdm-platform.api.${k}` in en, `iotdm-platform.api.${k}`);
    // the device config's problems: iotdm-device.errors.<key> for every key readConfig pushes
    const dev = fs.readFileSync(path.join(NODES, 'iotdm-device.ts'), 'utf8');
    const problems = [...dev.matchAll(/problems\.push\(\{ key: '([^']+)'/g)].map((m) => m[1]);
    assert.ok(problems.length >= 5, `problems: ${problems}`);
    for (const k of problems) assert.ok(`iotdm-device.errors.${k}` in en, `iotdm-device.errors.${k}`);
  });

  it("every key the editor asks for (data-i18n, this._('…')) exists in both languages", () => {
    for (const lang of LANGS) {
      const cat = allKeys(lang);
      let count = 0;
      for (const f of sourceFiles(NODES, '.html')) {
        const src = fs.readFileSync(f, 'utf8');
        const keys = [
          ...[...src.matchAll(/data-i18n="([^"]+)"/g)].map((m) => m[1].replace(/^\[[a-z]+\]/, '')),
          ...[...src.matchAll(/this\._\('([^']+)'\)/g)].map((m) => m[1]),
        ];
        for (const k of keys) {
          count++;
          assert.ok(k in cat, `${path.relative(ROOT, f)}: ${k} is not in locales/${lang}`);
        }
      }
      assert.ok(count > 80, `only ${count} editor keys found`);
    }
  });

  it("every node has help in both languages in Node-RED's style", () => {
    const types = nodeTypes();
    assert.ok(types.length >= 5, `types: ${types.map((t) => t.type)}`);
    for (const lang of LANGS) {
      const h = HEADINGS[lang];
      for (const t of types) {
        const base = path.basename(t.file, '.html');
        const file = path.join(LOCALES, lang, `${base}.html`);
        const src = fs.readFileSync(file, 'utf8');
        const m = new RegExp(`<script type="text/html" data-help-name="${t.type}">([\\s\\S]*?)</script>`).exec(src);
        assert.ok(m, `${lang}/${base}.html has no help for ${t.type}`);
        const help = m[1];
        assert.match(help, /^\s*<p>[^]+?<\/p>/, `${lang} ${t.type}: a summary paragraph first`);
        const headings = [...help.matchAll(/<h3>([^<]+)<\/h3>/g)].map((x) => x[1]);
        const want = t.category === 'config' ? [h.details, h.references] : [h.inputs, h.outputs, h.details, h.references];
        assert.deepEqual(
          headings.filter((x) => Object.values(h).includes(x)),
          want,
          `${lang} ${t.type}: sections ${headings}`,
        );
        if (t.category !== 'config') assert.match(help, /<dl class="message-properties">/, `${lang} ${t.type}: message-properties`);
      }
    }
  });

  it('every node is in the iotdm category (config nodes in config), with its own white-on-transparent icon and port labels', () => {
    const used = new Set<string>();
    for (const t of nodeTypes()) {
      assert.ok(t.category === 'iotdm' || t.category === 'config', `${t.type}: category ${t.category}`);
      assert.ok(t.icon, `${t.type} has no icon`);
      assert.ok(!used.has(t.icon!), `${t.type} shares the icon ${t.icon}`);
      used.add(t.icon!);
      const svg = fs.readFileSync(path.join(ROOT, 'icons', t.icon!), 'utf8');
      assert.match(svg, /^<svg [^>]*viewBox="0, 0, 40, 60"/, `${t.icon}: the core icons' 40×60 (2:3) view box`);
      // white strokes and fills only, no background
      const colours = [...svg.matchAll(/(?:fill|stroke)="([^"]+)"/g)].map((m) => m[1]);
      assert.ok(colours.length > 0, t.icon);
      for (const c of colours) assert.ok(c === '#fff' || c === 'none', `${t.icon}: colour ${c}`);
      assert.doesNotMatch(svg, /<rect[^>]*width="40"[^>]*height="60"/, `${t.icon}: a background`);
      const src = fs.readFileSync(t.file, 'utf8');
      const body = new RegExp(`registerType\\(\\s*'${t.type}'[\\s\\S]*?\\n {2}\\}\\);`).exec(src)![0];
      if (t.inputs > 0) assert.match(body, /inputLabels: function/, `${t.type}: inputLabels`);
      if (t.outputs > 0) assert.match(body, /outputLabels: function/, `${t.type}: outputLabels`);
      for (const m of body.matchAll(/(?:input|output)Labels: function[^{]*\{([^}]*)\}/g))
        assert.match(m[1], /this\._\(/, `${t.type}: port labels are translated`);
    }
  });
});
