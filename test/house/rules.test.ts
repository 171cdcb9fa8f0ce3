/**
 * The house rules (issue 9), checked on the sources as they are in the repository:
 * - the protocol folders (nodes/protocol, nodes/platform, nodes/device) import nothing from
 *   Node-RED, the MQTT stack, express, the transport, the Node-RED-side helpers, the plugins or the
 *   node files; the protocol core imports neither side, and the two sides do not import each other;
 * - no TypeScript file under nodes/ is over 450 lines;
 * - every document a comment cites is in the repository: `docs/protocol.md §N` names a section
 *   that exists, "the seed" is cited as docs/protocol.md §11, a README section exists, and every
 *   path or TypeScript file name a comment names exists.
 * The sources are read with TypeScript's own parser, so strings and regular expressions are never
 * taken for comments or imports.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.join(__dirname, '..', '..', '..');
const MAX_LINES = 450;
const PROTOCOL_FOLDERS = ['nodes/protocol', 'nodes/platform', 'nodes/device'];
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git', 'test-artifacts']);

function rel(abs: string): string {
  return path.relative(ROOT, abs).split(path.sep).join('/');
}

function walk(dir: string, keep: (file: string) => boolean, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name)) continue;
    const r = dir === '.' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) walk(r, keep, out);
    else if (keep(r)) out.push(r);
  }
  return out.sort();
}

const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

function parse(file: string, text = read(file)): ts.SourceFile {
  const kind = /\.(m?js)$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
}

// ------------------------------------------------------------------------------------ imports

/** Every module a file names: import / export from, import = require, require(), import(), import types. */
function moduleSpecifiers(sf: ts.SourceFile): string[] {
  const out: string[] = [];
  const literal = (n: ts.Node | undefined) => {
    if (n && ts.isStringLiteralLike(n)) out.push(n.text);
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) literal(n.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference)) literal(n.moduleReference.expression);
    else if (
      ts.isCallExpression(n) &&
      (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))
    ) {
      literal(n.arguments[0]);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument)) literal(n.argument.literal);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

const FORBIDDEN_PACKAGES = [/^node-red(\/|$)/, /^@node-red\//, /^mqtt(\/|$)/, /^aedes(\/|$)/, /^express(\/|$)/];

/** Why `spec`, imported by `file` (a protocol-folder file), breaks the layering; undefined when it does not. */
function layeringProblem(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) {
    return FORBIDDEN_PACKAGES.some((re) => re.test(spec)) ? `imports the package "${spec}"` : undefined;
  }
  const target = rel(path.resolve(path.join(ROOT, path.dirname(file)), spec));
  const folder = (f: string) => PROTOCOL_FOLDERS.find((p) => f === p || f.startsWith(`${p}/`));
  const own = folder(file);
  const theirs = folder(target);
  if (!theirs) return `imports ${target}, outside the protocol folders (transport, shared, plugins or a node file)`;
  if (own === 'nodes/protocol' && theirs !== own) return `imports ${target}: the protocol core imports neither side`;
  if (own !== 'nodes/protocol' && theirs !== own && theirs !== 'nodes/protocol') return `imports ${target}: one side of the wire imports the other`;
  return undefined;
}

// ------------------------------------------------------------------------------------ comments

interface Comment {
  file: string;
  line: number;
  text: string;
}

/** The comments of a JS/TS source, each block or run of adjacent line comments as one. */
function scriptComments(file: string, text: string, lineOffset = 0): Comment[] {
  const sf = parse(file, text);
  const seen = new Set<number>();
  const ranges: ts.CommentRange[] = [];
  const collect = (list: ts.CommentRange[] | undefined) => {
    for (const r of list ?? []) {
      if (!seen.has(r.pos)) {
        seen.add(r.pos);
        ranges.push(r);
      }
    }
  };
  const visit = (n: ts.Node): void => {
    collect(ts.getLeadingCommentRanges(text, n.getFullStart()));
    collect(ts.getTrailingCommentRanges(text, n.getEnd()));
    ts.forEachChild(n, visit);
  };
  visit(sf);
  collect(ts.getLeadingCommentRanges(text, sf.endOfFileToken.getFullStart()));
  ranges.sort((a, b) => a.pos - b.pos);
  const out: Comment[] = [];
  let last: { end: number; comment: Comment } | undefined;
  for (const r of ranges) {
    const body = text.slice(r.pos, r.end);
    const line = sf.getLineAndCharacterOfPosition(r.pos).line + 1 + lineOffset;
    // `//` comments on consecutive lines read as one paragraph
    if (
      last &&
      r.kind === ts.SyntaxKind.SingleLineCommentTrivia &&
      /^\s*$/.test(text.slice(last.end, r.pos)) &&
      text.slice(last.end, r.pos).split('\n').length === 2
    ) {
      last.comment.text += `\n${body}`;
      last.end = r.end;
      continue;
    }
    const comment = { file, line, text: body };
    out.push(comment);
    last = r.kind === ts.SyntaxKind.SingleLineCommentTrivia ? { end: r.end, comment } : undefined;
  }
  return out;
}

/** The comments of an HTML file: `<!-- -->` and the comments of its scripts. */
function htmlComments(file: string, text: string): Comment[] {
  const out: Comment[] = [];
  const lineOf = (i: number) => text.slice(0, i).split('\n').length;
  for (const m of text.matchAll(/<!--([\s\S]*?)-->/g)) out.push({ file, line: lineOf(m.index!), text: m[1] });
  for (const m of text.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)) {
    const start = m.index! + m[0].indexOf('>') + 1;
    out.push(...scriptComments(`${file}.js`, m[1], lineOf(start) - 1).map((c) => ({ ...c, file })));
  }
  return out;
}

function commentsOf(file: string): Comment[] {
  const text = read(file);
  return file.endsWith('.html') ? htmlComments(file, text) : scriptComments(file, text);
}

/** Section numbers of docs/protocol.md: "## 3. Exchanges" → 3, "### 3.7 ..." → 3.7, "### 10.x ..." → 10.x (and 10.y). */
function protocolSections(): Set<string> {
  const out = new Set<string>();
  for (const m of read('docs/protocol.md').matchAll(/^#{2,4} (\d+(?:\.(?:\d+|[a-z]))?)\.? /gm)) out.add(m[1]);
  return out;
}

function readmeHeadings(): string[] {
  return [...read('README.md').matchAll(/^#{1,4} (.+)$/gm)].map((m) => m[1].trim().toLowerCase());
}

const SOURCE_EXT = /\.(ts|mjs|cjs|js|html)$/;
/** Files whose comments are checked: every source of the package, its tests, bench and scripts. */
function commentedFiles(): string[] {
  const roots = ['nodes', 'test', 'bench', 'scripts'].filter((d) => fs.existsSync(path.join(ROOT, d)));
  const top = fs.readdirSync(ROOT).filter((f) => /\.(mjs|cjs|js)$/.test(f));
  return [...roots.flatMap((d) => walk(d, (f) => SOURCE_EXT.test(f) && !f.endsWith('.d.ts'))), ...top];
}

/** Repository paths: `nodes/platform/plans.ts`, `docs/protocol.md`, `dist/bench/simulator.js` (its source). */
const PATH_RE = /(?<![\w/.-])((?:nodes|test|bench|scripts|docs|examples|locales|icons|dist)\/[\w./{}*-]*[\w*}])/g;
/** Bare names of this project's TypeScript files: `plans.ts`, `registry.ts:193`. */
const TS_NAME_RE = /(?<![\w/.-])([a-z][\w-]*\.ts)\b/g;
/** Document names (`.md`) given without their path. */
const MD_RE = /(?<![\w/.-])([\w-]+\.md)\b/g;

function pathExists(p: string): boolean {
  if (/[{}*]/.test(p)) return true; // a pattern, not a path
  const clean = p.replace(/[.:]+$/, '');
  if (fs.existsSync(path.join(ROOT, clean))) return true;
  // built output is named by its source
  const m = /^dist\/(.+)\.js$/.exec(clean);
  return !!m && fs.existsSync(path.join(ROOT, `${m[1]}.ts`));
}

function citationProblems(c: Comment, sections: Set<string>, tsNames: Set<string>, readme: string[]): string[] {
  const problems: string[] = [];
  const where = `${c.file}:${c.line}`;
  for (const m of c.text.matchAll(PATH_RE)) if (!pathExists(m[1])) problems.push(`${where} cites ${m[1]}, which is not in the repository`);
  for (const m of c.text.matchAll(TS_NAME_RE)) {
    if (!tsNames.has(m[1])) problems.push(`${where} names ${m[1]}, which no file of the repository is called`);
  }
  for (const m of c.text.matchAll(MD_RE)) {
    const before = c.text.slice(0, m.index);
    if (m[1] === 'README.md' || /(?:docs|\w)\/$/.test(before)) continue;
    problems.push(`${where} cites ${m[1]} without its path (docs/protocol.md, README.md, ...)`);
  }
  // docs/protocol.md §N: every section named (lists and ranges such as "§3.1-3.5, §8.2") exists
  for (const m of c.text.matchAll(/docs\/protocol\.md((?:[\s,;–-]*(?:and\s+)?§?\s*\d+(?:\.(?:\d+|[a-z]))?)*)/g)) {
    for (const s of m[1].matchAll(/(\d+(?:\.(?:\d+|[a-z]))?)/g)) {
      if (!sections.has(s[1])) problems.push(`${where} cites docs/protocol.md §${s[1]}, which has no such section`);
    }
  }
  if (/\bthe seed\b/i.test(c.text) && !/docs\/protocol\.md[^)\n]*§\s*11\b/.test(c.text)) {
    problems.push(`${where} cites the seed without docs/protocol.md §11 (the seed is not in the repository)`);
  }
  // a README section named in quotes after README / README's
  for (const m of c.text.matchAll(/README(?:\.md)?(?:'s)?\s+(?:section\s+)?["“]([^"”]+)["”]/g)) {
    if (!readme.includes(m[1].trim().toLowerCase())) problems.push(`${where} cites README section "${m[1]}", which README.md does not have`);
  }
  return problems;
}

// ------------------------------------------------------------------------------------ the rules

describe('house rules', () => {
  it('the protocol folders import nothing from Node-RED, MQTT, express, the transport, the helpers, the plugins or the node files', () => {
    const files = PROTOCOL_FOLDERS.flatMap((d) => walk(d, (f) => f.endsWith('.ts')));
    assert.ok(files.length >= 15, `expected the protocol folders to hold their files, found ${files.length}`);
    const problems: string[] = [];
    for (const file of files) {
      for (const spec of moduleSpecifiers(parse(file))) {
        const why = layeringProblem(file, spec);
        if (why) problems.push(`${file} ${why}`);
      }
    }
    assert.equal(problems.length, 0, `\n${problems.join('\n')}`);
  });

  it(`no TypeScript file under nodes/ is over ${MAX_LINES} lines`, () => {
    const files = walk('nodes', (f) => f.endsWith('.ts'));
    assert.ok(files.length > 30);
    const over = files
      .map((f) => ({ f, lines: read(f).split('\n').length - (read(f).endsWith('\n') ? 1 : 0) }))
      .filter((x) => x.lines > MAX_LINES)
      .map((x) => `${x.f}: ${x.lines} lines`);
    assert.equal(over.length, 0, `\n${over.join('\n')}`);
  });

  it('every document a comment cites is in the repository', () => {
    const sections = protocolSections();
    assert.ok(sections.has('3.9') && sections.has('10.x') && sections.has('11'), 'docs/protocol.md keeps its section numbers');
    const tsNames = new Set(walk('.', (f) => f.endsWith('.ts')).map((f) => path.basename(f)));
    const readme = readmeHeadings();
    const files = commentedFiles();
    let cited = 0;
    const problems: string[] = [];
    for (const file of files) {
      for (const c of commentsOf(file)) {
        if (/docs\/protocol\.md/.test(c.text)) cited++;
        problems.push(...citationProblems(c, sections, tsNames, readme));
      }
    }
    assert.equal(problems.length, 0, `\n${problems.join('\n')}`);
    assert.ok(cited >= 40, `expected the comments to cite docs/protocol.md (found ${cited})`);
  });

  describe('the checks themselves', () => {
    const sections = new Set(['3', '3.7', '7.4', '10.x', '11']);
    const check = (text: string) => citationProblems({ file: 'x.ts', line: 1, text }, sections, new Set(['plans.ts']), ['architecture']);

    it('see a missing document, section, path or file name', () => {
      assert.equal(check('// (protocol.md §3)').length, 1);
      assert.equal(check('// (design.md "Layers")').length, 1);
      assert.equal(check('// docs/protocol.md §3.8').length, 1);
      assert.equal(check('// docs/protocol.md §3.7, §7.5').length, 1);
      assert.equal(check('// the seed says so').length, 1);
      assert.equal(check('// see nodes/core/plans.ts').length, 1);
      assert.equal(check('// as device-list.ts does').length, 1);
      assert.equal(check('// README\'s "Layout" section').length, 1);
    });

    it('accept what exists', () => {
      assert.deepEqual(check('// (docs/protocol.md §3.7, §7.4, §10.x)'), []);
      assert.deepEqual(check('/* the seed (docs/protocol.md §11) */'), []);
      assert.deepEqual(check('// see docs/protocol.md and plans.ts'), []);
      assert.deepEqual(check('// README\'s "Architecture" section'), []);
    });

    it('read imports from code, not from strings or comments', () => {
      const sf = parse(
        'x.ts',
        "import a from 'mqtt';\nimport type { B } from '../transport/connection';\nconst s = \"import c from 'express'\"; // import d from 'aedes'\nconst e = require('node-red');\ntype F = import('aedes').Client;\n",
      );
      assert.deepEqual(moduleSpecifiers(sf), ['mqtt', '../transport/connection', 'node-red', 'aedes']);
      assert.match(layeringProblem('nodes/device/x.ts', '../transport/connection')!, /outside the protocol folders/);
      assert.match(layeringProblem('nodes/device/x.ts', '../platform/plans')!, /one side/);
      assert.match(layeringProblem('nodes/protocol/x.ts', '../device/y')!, /neither side/);
      assert.match(layeringProblem('nodes/platform/x.ts', '../iotdm-platform')!, /outside/);
      assert.equal(layeringProblem('nodes/platform/x.ts', '../protocol/topics'), undefined);
      assert.equal(layeringProblem('nodes/platform/x.ts', 'node:events'), undefined);
    });

    it('read comments, not strings or regular expressions', () => {
      const comments = scriptComments('x.ts', "const a = '// protocol.md §1';\nconst r = /\\/\\/ design.md/;\n// one\n// two\nconst b = 1; /* three */\n");
      assert.deepEqual(
        comments.map((c) => c.text),
        ['// one\n// two', '/* three */'],
      );
    });
  });
});
