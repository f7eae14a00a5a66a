/** Scale and reporting for the slow and soak suites. */

/** PLUGSOCK_SOAK=1 runs the full counts of issue 6; the default is sized for CI on 2 cores. */
export const SOAK = process.env.PLUGSOCK_SOAK === '1';

export function scale(ci: number, soak: number): number {
  return SOAK ? soak : ci;
}

/** Figures a test measured; printed as one JSON line per test for docs/hardening.md. */
export function report(name: string, figures: Record<string, unknown>): void {
  console.log(`HARDENING ${name} ${JSON.stringify(figures)}`);
}
