// Types of stats.mjs, for the TypeScript tests that import it (test/bench-stats.test.ts).
export interface Summary {
  median: number | null;
  min: number | null;
  max: number | null;
  spread: number | null;
  n: number;
  values: number[];
}
export interface Interval {
  median: number | null;
  lo: number | null;
  hi: number | null;
  n: number;
}
export interface IntervalOptions {
  iterations?: number;
  level?: number;
  seed?: number;
}
export type Better = 'higher' | 'lower';
export interface Met {
  metMedian: boolean | null;
  metInterval: boolean | null;
  met: boolean | null;
}
export interface RatioFields extends Met {
  ratio: number | null;
  ratioCI: [number, number] | null;
  ratioN: number;
}
export interface RatioRow {
  ratio?: number | null;
  ratioCI?: [number, number] | null;
  target?: number | string | null;
  better?: Better;
  metMedian?: boolean | null;
  metInterval?: boolean | null;
  met?: boolean | null;
}

export function median(values: readonly unknown[]): number | null;
export function spread(values: readonly unknown[]): number | null;
export function summarize(values: readonly unknown[]): Summary;
export function pairedRatios(a: readonly number[], b: readonly number[]): number[];
export function pairedRatio(a: readonly number[], b: readonly number[]): number | null;
export function mulberry32(seed: number): () => number;
export function seedOf(...lists: unknown[]): number;
export function quantile(sorted: readonly number[], p: number): number | null;
export function valueInterval(values: readonly unknown[], options?: IntervalOptions): Interval;
export function ratioInterval(a: readonly number[], b: readonly number[], options?: IntervalOptions & { paired?: boolean }): Interval;
export function meets(row: RatioRow): Met;
export function ratioFields(
  a: readonly number[],
  b: readonly number[],
  options?: { target?: number | null; better?: Better; paired?: boolean; seed?: number },
): RatioFields;
export function verdict(row: RatioRow): string;
export function fmtNum(x: unknown): string;
