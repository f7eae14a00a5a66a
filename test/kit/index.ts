/**
 * The test kit: what the test files share. Importing it needs no build; only the built package
 * (`plugsock`, `goplugin`, `runNode`'s prelude, `transportFactory`'s default class) does.
 */
export * from './dirs';
export * from './env';
export * from './fds';
export * from './figures';
export * from './fixture';
export * from './package';
export * from './processes';
export * from './transports';
