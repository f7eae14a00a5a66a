/**
 * Diagnostics: how a provider tells Terraform what went wrong. Every error a provider's code
 * throws becomes an ERROR diagnostic of the RPC that ran it (Terraform shows its summary and
 * detail, and points at the attribute when there is one); warnings are added with `ctx.warn()`.
 */

/**
 * Where in a value an attribute sits: a string is an attribute (or nested block) name, a number
 * an index into a list (or tuple), `{ key }` a key of a map. `['rule', 0, 'port']` is the
 * `port` of the first `rule` block; a plain string is one top-level attribute.
 */
export type AttributePath =
  | string
  | readonly (
      | string
      | number
      | {
          /** A key of a map. */
          readonly key: string;
        }
    )[];

/** Options of a diagnostic beyond its summary. */
export interface DiagnosticOptions {
  /** Longer text Terraform prints under the summary. */
  readonly detail?: string;
  /** The attribute the diagnostic is about: Terraform quotes its configuration line. */
  readonly attribute?: AttributePath;
}

/**
 * An error with a Terraform diagnostic's parts. Throw it from any hook for a diagnostic with a
 * detail and an attribute; any other thrown error becomes a diagnostic whose summary is its
 * message.
 */
export class ProviderError extends Error {
  /** Longer text Terraform prints under the summary. */
  readonly detail: string;
  /** The attribute the error is about, if any. */
  readonly attribute: AttributePath | undefined;

  constructor(summary: string, options: DiagnosticOptions & { readonly cause?: unknown } = {}) {
    super(summary, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProviderError';
    this.detail = options.detail ?? '';
    this.attribute = options.attribute;
  }
}

/** tfplugin's Diagnostic.Severity. */
export const Severity = { ERROR: 1, WARNING: 2 } as const;

/** A tfplugin AttributePath message. */
export interface AttributePathMessage {
  steps: ({ attribute_name: string } | { element_key_string: string } | { element_key_int: number })[];
}

/** A tfplugin Diagnostic message. */
export interface DiagnosticMessage {
  severity: number;
  summary: string;
  detail: string;
  attribute?: AttributePathMessage;
}

/** An AttributePath as tfplugin's message. */
export function attributePathMessage(path: AttributePath): AttributePathMessage {
  const steps = typeof path === 'string' ? [path] : path;
  return {
    steps: steps.map((s) => (typeof s === 'string' ? { attribute_name: s } : typeof s === 'number' ? { element_key_int: s } : { element_key_string: s.key })),
  };
}

/** One diagnostic message. */
export function diagnostic(severity: number, summary: string, options: DiagnosticOptions = {}): DiagnosticMessage {
  const d: DiagnosticMessage = { severity, summary, detail: options.detail ?? '' };
  if (options.attribute !== undefined) d.attribute = attributePathMessage(options.attribute);
  return d;
}

/**
 * The ERROR diagnostic of a thrown error: a ProviderError keeps its parts; any other error's
 * message is the summary (a non-Error value is stringified).
 */
export function errorDiagnostic(err: unknown): DiagnosticMessage {
  if (err instanceof ProviderError)
    return diagnostic(Severity.ERROR, err.message, { detail: err.detail, ...(err.attribute ? { attribute: err.attribute } : {}) });
  const summary = err instanceof Error ? err.message || err.name : String(err);
  return diagnostic(Severity.ERROR, summary);
}

/** The diagnostics one RPC collects: warnings and errors added by hooks, then the thrown error. */
export class Diagnostics {
  readonly list: DiagnosticMessage[] = [];

  warn(summary: string, options?: DiagnosticOptions): void {
    this.list.push(diagnostic(Severity.WARNING, summary, options));
  }

  error(summary: string, options?: DiagnosticOptions): void {
    this.list.push(diagnostic(Severity.ERROR, summary, options));
  }

  /** Adds the diagnostic of a thrown error. */
  thrown(err: unknown): void {
    this.list.push(errorDiagnostic(err));
  }

  get hasErrors(): boolean {
    return this.list.some((d) => d.severity === Severity.ERROR);
  }
}
