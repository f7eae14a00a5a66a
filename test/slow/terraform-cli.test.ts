/**
 * The real Terraform CLI (1.11, /usr/local/bin/terraform) and a provider written in TypeScript
 * (examples/terraform-provider, built here): create, update, an empty plan, drift, destroy and
 * Ctrl-C during an apply, over protocol 5 and 6, with the provider started directly, through a
 * wrapper script that `exec`s it, and through one that does not (served with host: 'ancestors').
 *
 * After every command: no process of the provider is left, and nothing in the case's private
 * TMPDIR (where the provider makes its socket directory; Terraform passes TMPDIR on), and every
 * socket address Terraform's log names was in that TMPDIR and is gone. The cases run
 * concurrently, each in its own directory with its own CLI configuration; no network (a proxy
 * that refuses makes any attempt fail).
 *
 * Debug mode, per protocol: the provider started by hand (`-debug`) prints TF_REATTACH_PROVIDERS;
 * with it set (and no dev_overrides: Terraform has no other way to the provider, and needs no
 * `terraform init`) apply, plan and destroy are all served by that one process, which Terraform
 * neither starts nor stops; Ctrl-C ends it and it removes its socket and directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cannotRun, removeDir, root, tempDir } from '../kit';

const TERRAFORM = '/usr/local/bin/terraform';
const INSTALL =
  'install Terraform 1.11.4 at /usr/local/bin/terraform: unzip https://releases.hashicorp.com/terraform/1.11.4/terraform_1.11.4_linux_amd64.zip ' +
  '(or _arm64) into /usr/local/bin';
const EXAMPLE = join(root, 'examples', 'terraform-provider');
/** The provider this run built (beforeAll), in a directory of its own. */
let PROVIDER = '';
const ADDRESS = 'example.com/plugsock/localfile';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

const haveTerraform = existsSync(TERRAFORM);
const dirs: string[] = [];

beforeAll(async () => {
  if (!haveTerraform) return;
  const out = tempDir('plugsock-tfcli-build-');
  dirs.push(out);
  const { buildProvider } = await import(join(EXAMPLE, 'build.mjs'));
  PROVIDER = await buildProvider(join(out, 'terraform-provider-localfile'));
}, 90_000);

afterAll(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** How the provider starts: by Terraform (directly or through a wrapper), or by hand in debug mode. */
type Launch = 'direct' | 'exec wrapper' | 'wrapper without exec' | 'debug';

/** One case's world: its directory, CLI configuration, provider launcher, TMPDIR and environment. */
class Case {
  readonly dir = tempDir('plugsock-tfcli-');
  readonly tmp = join(this.dir, 'tmp');
  readonly cfg = join(this.dir, 'cfg');
  readonly files = join(this.dir, 'files');
  readonly file = join(this.files, 'f.txt');
  /** TF_REATTACH_PROVIDERS for the commands (debug mode), once the provider printed it. */
  reattach: string | null = null;
  #logs = 0;

  constructor(
    readonly protocol: 5 | 6,
    readonly launch: Launch,
  ) {
    dirs.push(this.dir);
    for (const d of [this.tmp, this.cfg, this.files, join(this.dir, 'prov'), join(this.dir, 'home')]) mkdirSync(d);
    this.installProvider(join(this.dir, 'prov'));
    // Debug mode: no dev_overrides, so Terraform cannot start the provider; TF_REATTACH_PROVIDERS
    // is its only way to it.
    const overrides = launch === 'debug' ? '' : `  dev_overrides { ${JSON.stringify(ADDRESS)} = ${JSON.stringify(join(this.dir, 'prov'))} }\n`;
    writeFileSync(join(this.dir, 'tf.rc'), `provider_installation {\n${overrides}  direct {}\n}\n`);
    writeFileSync(
      join(this.cfg, 'main.tf'),
      `terraform {\n  required_providers { localfile = { source = ${JSON.stringify(ADDRESS)} } }\n}\n` +
        `provider "localfile" { root = ${JSON.stringify(this.files)} }\n` +
        'variable "content" { type = string }\n' +
        'variable "delay_ms" {\n  type    = number\n  default = null\n}\n' +
        'resource "localfile_file" "f" {\n  path     = "f.txt"\n  content  = var.content\n  delay_ms = var.delay_ms\n}\n',
    );
  }

  /**
   * The provider as Terraform finds it: a symlink to the build (its path, in this case's
   * directory, is in the provider's command line), or a wrapper script running such a symlink.
   * Debug mode: the symlink, which the test starts.
   */
  private installProvider(prov: string): void {
    const target = join(prov, 'terraform-provider-localfile');
    if (this.launch === 'direct' || this.launch === 'debug') {
      symlinkSync(PROVIDER, target);
      return;
    }
    symlinkSync(PROVIDER, join(prov, 'localfile.js'));
    const exec = this.launch === 'exec wrapper' ? 'exec ' : '';
    writeFileSync(target, `#!/bin/sh\n${exec}${JSON.stringify(process.execPath)} ${JSON.stringify(join(prov, 'localfile.js'))} "$@"\n`);
    chmodSync(target, 0o755);
  }

  env(logFile: string): NodeJS.ProcessEnv {
    return {
      PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: join(this.dir, 'home'),
      TMPDIR: this.tmp,
      TF_CLI_CONFIG_FILE: join(this.dir, 'tf.rc'),
      TF_IN_AUTOMATION: '1',
      CHECKPOINT_DISABLE: '1',
      TF_LOG: 'DEBUG',
      TF_LOG_PATH: logFile,
      // No network: anything that tries goes through a proxy nobody serves.
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      PLUGSOCK_TF_PROTOCOL: String(this.protocol),
      ...(this.launch === 'wrapper without exec' ? { PLUGSOCK_TF_HOST: 'ancestors' } : {}),
      ...(this.reattach !== null ? { TF_REATTACH_PROVIDERS: this.reattach } : {}),
      ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}),
    };
  }

  /**
   * Starts the provider by hand in debug mode (`terraform-provider-localfile -debug`), as a
   * person would under a debugger: from a shell, not from Terraform, with the case's TMPDIR.
   */
  startDebug(): DebugProvider {
    const env: NodeJS.ProcessEnv = {
      PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
      HOME: join(this.dir, 'home'),
      TMPDIR: this.tmp,
      PLUGSOCK_TF_PROTOCOL: String(this.protocol),
      ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}),
    };
    const child = spawn(process.execPath, [join(this.dir, 'prov', 'terraform-provider-localfile'), '-debug'], {
      cwd: this.dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    return { child, exited, stdout: () => stdout, stderr: () => stderr };
  }

  /**
   * Runs a command against the provider started in debug mode, then checks that this one
   * process served it and still runs: Terraform started no provider and stopped none, the
   * socket is still there, and TMPDIR holds nothing else.
   */
  async terraformAttached(prov: DebugProvider, socket: string, ...args: string[]): Promise<{ code: number | null; output: string }> {
    const t = this.start(args);
    const r = await t.done;
    const pid = prov.child.pid!;
    expect(prov.child.exitCode ?? prov.child.signalCode, `the provider ended during terraform ${args[0]}:\n${prov.stderr()}`).toBeNull();
    expect(processState(pid), 'the provider process').not.toBe('Z');
    expect(
      processesNaming(this.dir).map((p) => Number(p.split(':')[0])),
      'provider processes',
    ).toEqual([pid]);
    expect(existsSync(socket), `socket ${socket}`).toBe(true);
    expect(readdirSync(this.tmp), 'in TMPDIR').toEqual([basename(dirname(socket))]);
    const text = readFileSync(t.log, 'utf8');
    expect(text).toContain(`Provider ${ADDRESS} is overridden as an "unmanaged provider"`);
    // go-plugin's client logs this for each provider it launches.
    expect(text, r.output).not.toContain('starting plugin');
    // Terraform opens GRPCStdio again for each provider instance it uses; each must be accepted.
    expect(text).not.toMatch(/stdio: error receiving data/);
    return r;
  }

  /** Starts `terraform <args>` in the configuration directory. */
  start(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; output: string }>; output(): string; log: string } {
    const log = join(this.dir, `tf-${++this.#logs}.log`);
    const child = spawn(TERRAFORM, [...args, '-no-color', '-input=false'], { cwd: this.cfg, env: this.env(log), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const done = new Promise<{ code: number | null; output: string }>((resolve) =>
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      }),
    );
    return { child, done, output: () => output, log };
  }

  /** Runs a command to its end, then checks that it left nothing behind. */
  async terraform(...args: string[]): Promise<{ code: number | null; output: string }> {
    const t = this.start(args);
    const r = await t.done;
    await this.checkClean(t.log, r.output);
    return r;
  }

  /**
   * Nothing of the provider is left: no process (Terraform has waited for it), nothing in the
   * private TMPDIR, each socket Terraform's log names was there and is gone, and every provider
   * Terraform started spoke the case's protocol.
   */
  async checkClean(log: string, output: string): Promise<void> {
    const procs = await providerProcesses(this.dir, 2000);
    expect(procs, `provider processes left after terraform exited:\n${procs.join('\n')}\n${output}`).toEqual([]);
    expect(readdirSync(this.tmp), 'left in TMPDIR').toEqual([]);
    const text = readFileSync(log, 'utf8');
    // The provider's own debug line (hclog JSON on its stderr, which Terraform logs) names its socket.
    const sockets = [...text.matchAll(/serving the provider: .*address=(\S+)/g)].map((m) => m[1]!);
    const versions = [...text.matchAll(/using plugin: version=(\d+)/g)].map((m) => Number(m[1]));
    expect(sockets.length, output).toBeGreaterThan(0);
    for (const s of sockets) {
      expect(s.startsWith(`${this.tmp}/`), `socket ${s} outside TMPDIR`).toBe(true);
      expect(existsSync(s), `socket ${s} left`).toBe(false);
    }
    expect(new Set(versions)).toEqual(new Set([this.protocol]));
  }
}

/** A provider started by the test in debug mode. */
interface DebugProvider {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
}

/** The state letter of /proc/<pid>/stat ('Z': zombie), or null when there is no such process. */
function processState(pid: number | string): string | null {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? null;
  } catch {
    return null;
  }
}

/** Live processes whose command line names `dir` (the provider, or its wrapper), as `pid: cmdline`. */
function processesNaming(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      const state = processState(pid);
      if (cmdline.includes(dir) && state !== null && state !== 'Z') found.push(`${pid}: ${cmdline}`);
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

/** processesNaming(dir), waiting up to `ms` for them to go. */
async function providerProcesses(dir: string, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = processesNaming(dir);
    if (found.length === 0 || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves once `text` appears in the output, or rejects after `ms`. */
async function waitForOutput(output: () => string, text: string, ms: number): Promise<void> {
  await waitForMatch(output, new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), ms);
}

/** Resolves with the first match of `pattern` in the output, or rejects after `ms`. */
async function waitForMatch(output: () => string, pattern: RegExp, ms: number): Promise<RegExpMatchArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = output().match(pattern);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`no ${pattern} within ${ms} ms; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const CASES: [5 | 6, Launch][] = [];
for (const protocol of [6, 5] as const) for (const launch of ['direct', 'exec wrapper', 'wrapper without exec'] as const) CASES.push([protocol, launch]);

describe.concurrent('terraform CLI with a TypeScript provider', () => {
  for (const [protocol, launch] of CASES) {
    it(`protocol ${protocol}, ${launch}: create, update, no-op plan, drift, destroy, Ctrl-C`, async () => {
      if (!haveTerraform && cannotRun(`no terraform at ${TERRAFORM}; ${INSTALL}`)) return;
      const c = new Case(protocol, launch);

      let r = await c.terraform('apply', '-auto-approve', '-var', 'content=one');
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain(`Creation complete after`);
      expect(r.output).toContain(`[id=${sha256('one')}]`);
      expect(readFileSync(c.file, 'utf8')).toBe('one');

      r = await c.terraform('apply', '-auto-approve', '-var', 'content=two');
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain('Resources: 0 added, 1 changed, 0 destroyed.');
      expect(readFileSync(c.file, 'utf8')).toBe('two');

      r = await c.terraform('plan', '-detailed-exitcode', '-var', 'content=two');
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain('No changes.');

      writeFileSync(c.file, 'changed behind terraform');
      r = await c.terraform('plan', '-detailed-exitcode', '-var', 'content=two');
      expect(r.code, r.output).toBe(2);
      expect(r.output).toContain('changed behind terraform');
      expect(r.output).toContain('1 to change');

      r = await c.terraform('destroy', '-auto-approve', '-var', 'content=two');
      expect(r.code, r.output).toBe(0);
      expect(r.output).toContain('Destroy complete! Resources: 1 destroyed.');
      expect(existsSync(c.file)).toBe(false);

      // Ctrl-C while the provider waits a minute before creating: Terraform stops the provider
      // (StopProvider aborts the create), reports the interruption and exits without it.
      const t = c.start(['apply', '-auto-approve', '-var', 'content=slow', '-var', 'delay_ms=60000']);
      await waitForOutput(t.output, 'localfile_file.f: Creating...', 30_000);
      // Terraform prints "Creating..." before it sends ApplyResourceChange: wait until the
      // provider is inside create (its log line), or a StopProvider could come first (and, as
      // in terraform-plugin-go, only stop what runs at that moment).
      await waitForOutput(() => (existsSync(t.log) ? readFileSync(t.log, 'utf8') : ''), 'waiting before writing', 30_000);
      const t0 = Date.now();
      t.child.kill('SIGINT');
      r = await t.done;
      expect(Date.now() - t0, r.output).toBeLessThan(15_000);
      expect(r.code, r.output).not.toBe(0);
      expect(r.output).toContain('Interrupt received');
      expect(r.output).toContain('Terraform asked the provider to stop (interrupted)');
      expect(existsSync(c.file)).toBe(false);
      await c.checkClean(t.log, r.output);
    }, 150_000);
  }
});

describe.concurrent('terraform CLI attached to a TypeScript provider in debug mode (TF_REATTACH_PROVIDERS)', () => {
  for (const protocol of [6, 5] as const) {
    it(`protocol ${protocol}: one provider process started by hand serves apply, plan and destroy; Ctrl-C ends it cleanly`, async () => {
      if (!haveTerraform && cannotRun(`no terraform at ${TERRAFORM}; ${INSTALL}`)) return;
      const c = new Case(protocol, 'debug');

      // Without the variable Terraform cannot use the provider at all (no dev_overrides, nothing
      // installed): whatever serves the commands below is the process the variable names.
      let r = await c.start(['plan', '-var', 'content=one']).done;
      expect(r.code, r.output).toBe(1);
      expect(r.output).toContain(`provider ${ADDRESS}: required by this configuration but no version is selected`);

      const prov = c.startDebug();
      try {
        const pid = prov.child.pid!;
        const line = await waitForMatch(prov.stdout, /^\tTF_REATTACH_PROVIDERS='(.+)'\n/m, 30_000);
        const reattach = JSON.parse(line[1]!);
        expect(reattach).toEqual({
          [ADDRESS]: { Protocol: 'grpc', ProtocolVersion: protocol, Pid: pid, Test: true, Addr: { Network: 'unix', String: expect.any(String) } },
        });
        const socket: string = reattach[ADDRESS].Addr.String;
        expect(dirname(dirname(socket)), 'the socket directory is in TMPDIR').toBe(c.tmp);
        c.reattach = line[1]!;

        r = await c.terraformAttached(prov, socket, 'apply', '-auto-approve', '-var', 'content=one');
        expect(r.code, r.output).toBe(0);
        expect(r.output).toContain(`[id=${sha256('one')}]`);
        expect(r.output).toContain('Apply complete! Resources: 1 added, 0 changed, 0 destroyed.');
        expect(readFileSync(c.file, 'utf8')).toBe('one');
        // The provider's own log (its stderr, ours: Terraform did not start it) says it wrote the file.
        expect(prov.stderr()).toContain('"@message":"wrote file"');

        r = await c.terraformAttached(prov, socket, 'plan', '-detailed-exitcode', '-var', 'content=one');
        expect(r.code, r.output).toBe(0);
        expect(r.output).toContain('No changes.');

        r = await c.terraformAttached(prov, socket, 'destroy', '-auto-approve', '-var', 'content=one');
        expect(r.code, r.output).toBe(0);
        expect(r.output).toContain('Destroy complete! Resources: 1 destroyed.');
        expect(existsSync(c.file)).toBe(false);

        // Ctrl-C: the provider removes its socket and directory, then dies of the signal.
        const t0 = Date.now();
        prov.child.kill('SIGINT');
        expect(await prov.exited).toEqual({ code: null, signal: 'SIGINT' });
        expect(Date.now() - t0).toBeLessThan(5000);
        expect(existsSync(socket), `socket ${socket} left`).toBe(false);
        expect(readdirSync(c.tmp), 'left in TMPDIR').toEqual([]);
        expect(processesNaming(c.dir)).toEqual([]);
      } finally {
        if (prov.child.exitCode === null && prov.child.signalCode === null) {
          prov.child.kill('SIGKILL');
          await prov.exited;
        }
      }
    }, 150_000);
  }
});
