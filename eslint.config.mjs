import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', '.idflow/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      // Workflow code is replayed: it must stay free of I/O and Node built-ins.
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [
        { group: ['node:*', 'fs', 'path', 'http', 'https', 'crypto', 'child_process'], message: 'workflow code is replayed: no I/O or Node built-ins' },
        { group: ['../activities', '../activities/*', '@aws-sdk/*', '@azure/*', '@microsoft/*'], allowTypeImports: true, message: 'workflows may import activities and SDKs by type only' },
      ] }],
    },
  },
  {
    files: ['domain/**/*.ts'],
    rules: {
      // domain/ is pure and vendor-neutral: a vendor's rules reach it through the registries (runtime/plugins.ts).
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [
        { group: ['../activities', '../activities/*', '../targets', '../targets/*', '../sources', '../sources/*', '../runtime', '../runtime/*', '../client', '../client/*', '../workflows', '../workflows/*'], message: 'domain/ imports only domain/ and contracts/' },
        { group: ['@temporalio/*', '@aws-sdk/*', '@azure/*', '@microsoft/*', 'node:*'], message: 'domain/ is pure: no SDKs, no I/O' },
      ] }],
    },
  },
  { files: ['**/*.js', 'bin/*'], languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly' } }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
