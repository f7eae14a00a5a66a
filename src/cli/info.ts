/** `plugsock info`: is the addon loaded (and if not, why), what it offers here; the version. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { capabilities } from '../capabilities';
import { INFO, commandHelp } from './commands';
import { Exit } from './exit';
import { parseCommand } from './parse';

/** The package's version (src/cli and dist/cli are both two levels below package.json). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

export function info(args: string[]): number {
  const parsed = parseCommand(INFO, args, 0);
  if (parsed === 'help') {
    process.stdout.write(commandHelp(INFO));
    return Exit.OK;
  }
  const caps = capabilities();
  if (parsed.values.json === true) {
    process.stdout.write(`${JSON.stringify(caps, null, 2)}\n`);
    return Exit.OK;
  }
  const lines = [
    `plugsock ${packageVersion()} on Node ${process.version} (${caps.platform}-${caps.arch})`,
    `native addon: ${caps.native ? `loaded (sources ${caps.addonSourceHash?.slice(0, 12)})` : `not loaded: ${caps.reason}`}`,
    ...Object.entries(caps.features).map(([name, on]) => `  ${on ? 'yes' : 'no '} ${name}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return Exit.OK;
}
