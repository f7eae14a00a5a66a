#!/usr/bin/env node
/**
 * plugsock CLI (package.json's bin): what a person reaches for instead of `socat` / `nc -U`.
 *
 *   plugsock listen [endpoint]   serve; status on stderr, data between stdio and the connection
 *   plugsock connect <endpoint>  connect; the same from the client side
 *   plugsock info                addon status, capabilities, platform
 *   plugsock demo                two processes, end to end
 *
 * The commands live in src/cli/; this file dispatches and turns their outcome into the exit
 * status (src/cli/exit.ts lists the codes).
 */
import { nearestKey } from './options';
import { COMMANDS, commandHelp, programHelp } from './cli/commands';
import { connect } from './cli/connect';
import { demo, demoServer } from './cli/demo';
import { Exit, UsageError, report } from './cli/exit';
import { info, packageVersion } from './cli/info';
import { listen } from './cli/listen';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'listen':
      return listen(rest);
    case 'connect':
      return connect(rest);
    case 'info':
      return info(rest);
    case 'demo':
      return demo(rest);
    case '__demo-server':
      return demoServer(rest[0]!);
    case '-h':
    case '--help':
      process.stdout.write(programHelp());
      return Exit.OK;
    case 'help':
      return help(rest[0]);
    case '--version':
      process.stdout.write(`plugsock ${packageVersion()}\n`);
      return Exit.OK;
    case undefined:
      process.stderr.write(programHelp());
      return Exit.USAGE;
    default: {
      const what = command.startsWith('-') ? `unknown option ${command}` : `unknown command ${JSON.stringify(command)}`;
      const near = nearestKey(command, [...COMMANDS.map((c) => c.name), '--help', '--version']);
      throw new UsageError(`${what}${near ? `; did you mean ${near}?` : ''}`, null);
    }
  }
}

/** `plugsock help [command]`. */
function help(name: string | undefined): number {
  if (name === undefined) {
    process.stdout.write(programHelp());
    return Exit.OK;
  }
  const spec = COMMANDS.find((c) => c.name === name);
  if (!spec) throw new UsageError(`help: no command ${JSON.stringify(name)}`, null);
  process.stdout.write(commandHelp(spec));
  return Exit.OK;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = report(err);
  },
);
