// Pure TypeScript: imports src/ directly, so it runs without a build.
import { describe, expect, it } from 'vitest';
import { normalizeUnixPath, TransportError } from '../src/index';

describe('normalizeUnixPath', () => {
  const accepted: Array<[string, string]> = [
    ['/tmp/a.sock', '/tmp/a.sock'],
    ['unix:/tmp/a.sock', '/tmp/a.sock'],
    ['unix://tmp/a.sock', '/tmp/a.sock'],
    ['unix:///tmp/a.sock', '/tmp/a.sock'],
    ['unix:////tmp//a.sock', '/tmp/a.sock'],
    ['//tmp//a.sock', '/tmp/a.sock'],
    ['/tmp/dir.d/../a.sock', '/tmp/dir.d/../a.sock'],
    ['/tmp/with space/ü.sock', '/tmp/with space/ü.sock'],
  ];
  it.each(accepted)('%s -> %s', (input, output) => {
    expect(normalizeUnixPath(input)).toBe(output);
  });

  const rejected = ['', 'unix:', 'unix:tmp/a.sock', 'tmp/a.sock', './a.sock', '/tmp/a\0b', 'unix:/', '/tmp/dir/', 'tcp://127.0.0.1:1'];
  it.each(rejected)('rejects %j with ERR_INVALID_PATH', (input) => {
    let caught: unknown;
    try {
      normalizeUnixPath(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TransportError);
    expect((caught as { code: string }).code).toBe('ERR_INVALID_PATH');
    expect((caught as Error).message.length).toBeGreaterThan(20);
  });

  it('rejects non-strings with ERR_INVALID_PATH', () => {
    expect(() => normalizeUnixPath(42 as unknown as string)).toThrow(/must be a string/);
  });
});
