/**
 * `Symbol.asyncDispose`, for `await using` on the go-plugin handles (PluginProcess,
 * ServedPlugin). Node 20 defines it as `Symbol.for('nodejs.asyncDispose')` where V8 lacks it;
 * the fallback is that same symbol, so the key is Node's (and the transport's) on every version.
 */
export const asyncDispose: typeof Symbol.asyncDispose = (Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')) as typeof Symbol.asyncDispose;
