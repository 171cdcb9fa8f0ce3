// ESLint flat config: typescript-eslint over the TypeScript sources (nodes, test, bench), the plain
// recommended rules over the scripts, and eslint-config-prettier last so that layout is prettier's
// alone (`npm run lint` runs both). The promise rules use type information: an unhandled promise
// must not reach Node-RED (README, project rules).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'test-artifacts/', 'coverage/'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  // a `let` assigned once, later than closures that read it (a timer's start, a client created
  // after the callback that uses it), cannot be a const
  { rules: { 'prefer-const': ['error', { ignoreReadBeforeAssign: true }] } },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // `_name` marks what is unused on purpose (destructuring out a key, a callback's first argument)
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      // Node-RED's node constructors keep `const node = this` for the callbacks they register
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
    },
  },
  {
    // tests load the node files the way Node-RED does (require), and drive node-red-node-test-helper
    // and Node-RED's runtime, which have no types
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: { ...globals.node } },
  },
  prettier,
);
