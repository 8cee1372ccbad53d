import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'wit/**', 'test/fixtures/build/**', '**/.cache/**', 'examples/**/build/**', 'examples/**/*.js', 'test/fixtures/agents/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      'no-control-regex': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: Object.fromEntries(
        ['console', 'process', 'URL', 'Buffer', 'performance', 'WebAssembly', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval',
          'queueMicrotask', 'setImmediate', 'structuredClone', 'TextEncoder', 'TextDecoder', 'fetch', 'atob', 'btoa', 'SharedArrayBuffer', 'Atomics'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
