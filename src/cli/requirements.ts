/**
 * What a command needs before it starts: the addon for the options that need it (said in the
 * options' names, before the library would say it in its own), and stdio wired for failure.
 */
import { capabilities } from '../capabilities';
import { CliError, Exit, UsageError, status } from './exit';
import type { NativeMode } from './parse';
import { StdinFeed } from './stdin-feed';

/** `features`: option names, and whether they were given. */
export function needsAddon(command: string, native: NativeMode, features: Record<string, boolean>): void {
  const wanted = Object.keys(features).filter((name) => features[name]);
  if (wanted.length === 0) return;
  const what = `${wanted.join(' and ')}: needs plugsock's native addon`;
  if (native === 'off') throw new UsageError(`${command}: ${what}: not with --native off`, command);
  const caps = capabilities();
  if (!caps.native) throw new CliError(`${command}: ${what}, which did not load here: ${caps.reason} (plugsock info tells more)`, Exit.ERROR);
}

export interface Stdio {
  feed: StdinFeed;
  /** stdin is a terminal. */
  interactive: boolean;
  /** stdin or stdout failed: the exit status is 1 whatever the connection did. */
  failed(): boolean;
}

/**
 * stdin as a feed, stdout's errors caught (EPIPE when the reader went away): either failure is
 * said on stderr once, and `breakConnections` closes what was being served at once. Not a
 * half-close: that would say "this is all" where the input was cut short, and a peer with data
 * in flight sees the connection break.
 */
export function stdio(breakConnections: () => void): Stdio {
  let failed = false;
  const fail = (what: string, err: NodeJS.ErrnoException) => {
    if (failed) return;
    failed = true;
    status(`${what}: ${err.code ?? err.message}`);
    breakConnections();
  };
  const feed = new StdinFeed(process.stdin, (err) => fail('cannot read stdin', err));
  process.stdout.on('error', (err: NodeJS.ErrnoException) => fail('cannot write to stdout', err));
  return { feed, interactive: process.stdin.isTTY === true, failed: () => failed };
}
