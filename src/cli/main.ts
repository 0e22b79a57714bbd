#!/usr/bin/env node
/**
 * cli/main: the `srvproxy` command. Parses the command line with yargs and
 * hands over to one command module. A bad flag: one line naming it, exit 2.
 * `srvproxy check-zone FILE...` with no flag is the one command line read
 * without yargs (importing it is a tenth of a second or more of a check's
 * CPU time); yargs and the modules of the other commands are imported only
 * when needed.
 * May import: every plane (it is the top).
 */
import { ConfigError } from '../shared/errors.js';
import type { RUN_OPTIONS as RunOptionSpecs, RunOptionName } from '../config/options.js';
import { checkZoneCommand } from './check-zone.js';
import { versionLine } from '../shared/version.js';

type RunOptions = typeof RunOptionSpecs;

const LIST_KINDS = new Set(['fqdn[]', 'string[]', 'address[]', 'upstream[]', 'cidr[]']);

/** Exit 2 with one line; used for every usage or config error. */
function usageError(message: string): never {
  process.stderr.write(`srvproxy: ${message.split('\n')[0]}\n`);
  process.exit(2);
}

function runFlags(RUN_OPTIONS: RunOptions, argv: Record<string, unknown>): Partial<Record<RunOptionName, unknown>> {
  const out: Partial<Record<RunOptionName, unknown>> = {};
  for (const name of Object.keys(RUN_OPTIONS) as RunOptionName[]) {
    const v = argv[name];
    if (v === undefined) continue;
    if (!LIST_KINDS.has(RUN_OPTIONS[name].kind) && Array.isArray(v)) {
      usageError(`--${name}: given more than once`);
    }
    if (Array.isArray(v) && v.length === 0) usageError(`--${name}: expects a value`);
    out[name] = v;
  }
  return out;
}

const HTTP_OPT = { http: { type: 'string', describe: 'base URL of the instance (default: http://127.0.0.1:8053)', default: 'http://127.0.0.1:8053' } } as const;

/** The whole command line through yargs (every command, --help, --version, bad flags). */
async function parseWithYargs(): Promise<void> {
  const { default: yargs } = await import('yargs');
  const { hideBin } = await import('yargs/helpers');
  const { RUN_OPTIONS } = await import('../config/options.js');
  const { controlCommand, statusCommand } = await import('./control.js');
  const cli = yargs(hideBin(process.argv))
    .scriptName('srvproxy')
    .version(versionLine())
    .strict()
    .parserConfiguration({ 'camel-case-expansion': false, 'parse-numbers': false, 'parse-positional-numbers': false, 'boolean-negation': false })
    .fail((msg, err) => {
      if (err instanceof ConfigError) usageError(err.message);
      if (err) throw err;
      usageError(msg ?? 'bad command line (see srvproxy --help)');
    })
    .command(
      'run',
      'run an instance: DNS authority for the pool and SIP proxy for the HA pairs',
      (y) => {
        for (const [name, spec] of Object.entries(RUN_OPTIONS)) {
          const isList = LIST_KINDS.has(spec.kind);
          const def = 'default' in spec ? ` [default: ${spec.default}]` : '';
          y.option(name, { type: 'string', array: isList, describe: spec.describe + def, requiresArg: true });
        }
        return y.option('config', { type: 'string', describe: 'JSON file with any of the options above as keys', requiresArg: true });
      },
      async (argv) => {
        // Loaded only for `run`: check-zone and the control commands start without the whole instance.
        const { runCommand } = await import('./run.js');
        await runCommand(runFlags(RUN_OPTIONS, argv), argv.config, usageError);
      },
    )
    .command(
      'check-zone <files..>',
      'check zone files: exit 0 when valid, else FILE:LINE: message lines and exit 1',
      (y) => y.positional('files', { type: 'string', array: true, demandOption: true }),
      (argv) => {
        process.exitCode = checkZoneCommand(argv.files);
      },
    )
    .command(
      'status',
      'show pool members and HA pairs of a running instance',
      (y) => y.options({ ...HTTP_OPT, json: { type: 'boolean', describe: 'print the /status JSON as is', default: false } }),
      async (argv) => {
        process.exitCode = await statusCommand(argv.http, argv.json);
      },
    )
    .command('drain', 'withdraw this instance: OPTIONS answered 503, gone from its own DNS answers', (y) => y.options(HTTP_OPT), async (argv) => {
      process.exitCode = await controlCommand(argv.http, 'drain');
    })
    .command('undrain', 'serve again after drain', (y) => y.options(HTTP_OPT), async (argv) => {
      process.exitCode = await controlCommand(argv.http, 'undrain');
    })
    .command('reload', 're-read the zone files (like SIGHUP)', (y) => y.options(HTTP_OPT), async (argv) => {
      process.exitCode = await controlCommand(argv.http, 'reload');
    })
    .demandCommand(1, 'a command is required: run, check-zone, status, drain, undrain, reload')
    .help();
  await cli.parseAsync();
}

/** `check-zone` and one or more file names, nothing that looks like a flag: yargs would read it the same way. */
function plainCheckZone(args: readonly string[]): boolean {
  return args.length >= 2 && args[0] === 'check-zone' && args.every((a) => !a.startsWith('-'));
}

// Not a top-level await: the single-executable build (scripts/build-binary.mjs)
// bundles this file as CommonJS, which has none.
const args = process.argv.slice(2);
const done = plainCheckZone(args)
  ? Promise.resolve().then(() => { process.exitCode = checkZoneCommand(args.slice(1)); })
  : parseWithYargs();
done.catch((err: unknown) => {
  process.stderr.write(`srvproxy: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
