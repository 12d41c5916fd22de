export * from './keys';
export * from './codec';
export * from './codec-server';
export * from './decode';
export { codecServerCommand, keysCommand, CODEC_TOKEN_ENV, DEFAULT_CODEC_PORT, DEFAULT_UI_ORIGINS } from './cli';
export { devEncryption, devCodecServerArgs } from './dev';
