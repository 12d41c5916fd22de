/**
 * The SCIM contract suites alone, against a SCIM app of your own, with no local stack:
 *   IDFLOW_SCIM_URL=https://app.example/scim/v2 IDFLOW_SCIM_TOKEN=… npx jest -c test/contract/scim.jest.config.js
 * They touch only records whose names start with their own random prefix. See docs/targets.md, "SCIM compatibility".
 */
const path = require('node:path');
process.env.IDFLOW_CONTRACT_KINDS ??= 'scim';
module.exports = {
  rootDir: path.resolve(__dirname, '../..'),
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }],
  },
  testMatch: ['<rootDir>/test/contract/targets.contract.test.ts', '<rootDir>/test/contract/scim-target.test.ts', '<rootDir>/test/contract/scim-quirks.test.ts'],
  modulePathIgnorePatterns: ['<rootDir>/dist', '<rootDir>/.tools'],
  testTimeout: 60_000,
};
