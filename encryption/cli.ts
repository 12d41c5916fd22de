import { Command } from 'commander';
import { codecFromEnv } from './codec';
import { startCodecServer } from './codec-server';
import { generateKey, idflowMode, KEY_FILE_ENV, KEYS_ENV, loadKeyring, newKeyId, promoteKeyFile, rotateKeyFile } from './keys';

export const CODEC_TOKEN_ENV = 'IDFLOW_CODEC_TOKEN';
export const DEFAULT_CODEC_PORT = 8234;
export const DEFAULT_UI_ORIGINS = ['http://127.0.0.1:8233', 'http://localhost:8233'];

/** `idflow codec-server`: decrypts payloads for the Temporal UI and CLI; runs until SIGINT/SIGTERM. */
export function codecServerCommand(): Command {
  return new Command('codec-server')
    .description(
      `serve POST /decode and /encode for the Temporal UI (--ui-codec-endpoint) and CLI (--codec-endpoint); keys from ${KEYS_ENV} or ${KEY_FILE_ENV}, bearer token from ${CODEC_TOKEN_ENV}`,
    )
    .option('--port <port>', 'listen port', String(DEFAULT_CODEC_PORT))
    .option('--host <address>', 'listen address', '127.0.0.1')
    .option('--origin <url...>', 'Temporal UI origins allowed by CORS', DEFAULT_UI_ORIGINS)
    .option('--namespace <name...>', 'only serve these namespaces (X-Namespace)')
    .option('--dev-trust-loopback-origin', 'development only: accept requests without a token from an allowed UI origin over loopback (the dev UI sends none)')
    .action(async (opts: { port: string; host: string; origin: string[]; namespace?: string[]; devTrustLoopbackOrigin?: boolean }) => {
      const codec = codecFromEnv();
      if (!codec) throw new Error(`no encryption key configured (${KEYS_ENV} or ${KEY_FILE_ENV}); there is nothing for a codec server to decrypt`);
      const token = process.env[CODEC_TOKEN_ENV] || undefined;
      const server = await startCodecServer({
        codec,
        port: Number.parseInt(opts.port, 10),
        host: opts.host,
        origins: opts.origin,
        namespaces: opts.namespace,
        token,
        trustLoopbackOrigin: opts.devTrustLoopbackOrigin === true,
        log: (line) => console.error(line),
      });
      const auth = [token ? 'bearer token' : undefined, opts.devTrustLoopbackOrigin ? 'trusted loopback UI origin (development)' : undefined].filter(Boolean).join(' or ');
      console.error(`idflow codec-server: listening on ${server.url} (current key ${codec.currentKeyId}, keys ${codec.keyring.keyIds.join(', ')}; origins ${opts.origin.join(', ')}; auth: ${auth})`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
    });
}

/** `idflow keys generate|rotate|check`: key material for payload encryption. */
export function keysCommand(): Command {
  const keys = new Command('keys').description('payload encryption keys (docs/encryption.md)');
  keys
    .command('generate')
    .description(`print a new "keyId:base64key" entry for ${KEYS_ENV} (put it first to make it current)`)
    .option('--id <keyId>', 'key id (default: k<yyyymmdd>)')
    .action((opts: { id?: string }) => {
      console.log(`${opts.id ?? newKeyId()}:${generateKey()}`);
    });
  keys
    .command('rotate')
    .description('add a new random key to a JSON key file and make it current (created with mode 600 when missing); earlier keys keep decrypting')
    .requiredOption('--file <path>', 'the key file (IDFLOW_ENCRYPTION_KEY_FILE)')
    .option('--id <keyId>', 'key id (default: k<yyyymmdd>)')
    .option('--keep-current', 'add the key for decryption only; make it current later with idflow keys promote (staged roll-out)')
    .action((opts: { file: string; id?: string; keepCurrent?: boolean }) => {
      const id = rotateKeyFile(opts.file, opts.id, { keepCurrent: opts.keepCurrent });
      console.log(
        opts.keepCurrent
          ? `${opts.file}: added key ${id} (not current yet); restart every idflow process, then run idflow keys promote --file ${opts.file} --id ${id}`
          : `${opts.file}: current key is now ${id}; restart workers, codec servers and long-running clients to pick it up`,
      );
    });
  keys
    .command('promote')
    .description('make an existing key of a JSON key file current')
    .requiredOption('--file <path>', 'the key file (IDFLOW_ENCRYPTION_KEY_FILE)')
    .requiredOption('--id <keyId>', 'the key to encrypt with from now on')
    .action((opts: { file: string; id: string }) => {
      promoteKeyFile(opts.file, opts.id);
      console.log(`${opts.file}: current key is now ${opts.id}; restart workers, codec servers and long-running clients to pick it up`);
    });
  keys
    .command('check')
    .description('validate the configured keys and show their ids (never the key material)')
    .action(() => {
      const mode = idflowMode();
      const keyring = loadKeyring();
      if (!keyring) console.log(`encryption off (no ${KEYS_ENV} or ${KEY_FILE_ENV}; mode ${mode})`);
      else console.log(`encryption on (mode ${mode}): ${keyring.source}, current key ${keyring.currentKeyId}, decrypts with ${keyring.keyIds.join(', ')}`);
    });
  return keys;
}
