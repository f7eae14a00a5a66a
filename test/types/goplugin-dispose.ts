// A consumer of plugsock/goplugin's published declarations: `await using` on the handles of
// startPlugin, attachPlugin and servePlugin, and their `signal` option. Compiled (never run) by
// test/goplugin-dispose.test.ts with goplugin-dispose.tsconfig.json (the strict options of
// tsconfig.json), against the repo's dist/ through the package's "exports".
import { attachPlugin, servePlugin, startPlugin, type PluginProcess, type ReattachConfig, type ServedPlugin } from 'plugsock/goplugin';

export async function launched(signal: AbortSignal): Promise<number> {
  await using plugin = await startPlugin({ command: './my-plugin', magicCookieKey: 'MY_APP_PLUGIN', magicCookieValue: 'd9d8a3b1', signal });
  await plugin.ping();
  return plugin.pid;
}

export async function attached(config: ReattachConfig): Promise<string> {
  await using plugin = await attachPlugin(config, { signal: AbortSignal.timeout(5000) });
  return plugin.address;
}

export async function served(): Promise<string> {
  await using served = await servePlugin({ magicCookieKey: 'MY_APP_PLUGIN', magicCookieValue: 'd9d8a3b1', versions: { 1: () => {} }, ownProcess: false });
  return served.address;
}

// The members themselves, by their well-known key.
export const disposePlugin = (p: PluginProcess): Promise<void> => p[Symbol.asyncDispose]();
export const disposeServed = (s: ServedPlugin): Promise<void> => s[Symbol.asyncDispose]();
export const asDisposable = (p: PluginProcess, s: ServedPlugin): AsyncDisposable[] => [p, s];

// The control: the compiler does check `await using` (an object without the method is refused).
export async function control(): Promise<void> {
  // @ts-expect-error: no [Symbol.asyncDispose]() (or [Symbol.dispose]()) method
  await using notDisposable = { kill: async () => {} };
  void notDisposable;
}
