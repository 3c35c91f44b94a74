/**
 * Counting on the query path without prom-client's per-call cost. Every
 * `counter.inc(labels)` and `histogram.observe(labels, v)` hashes and validates its
 * labels and allocates (about a microsecond per query for the request counter and
 * the latency histogram, a tenth of what a cache hit costs). Here the query path
 * adds to plain numbers in typed arrays, indexed by a fixed set of label values,
 * and prom-client sees the totals at scrape time: the text of `/metrics` is the
 * same, only series that were never counted are left out, as before.
 */
import type { Counter } from 'prom-client';

type Labels<L extends string> = Partial<Record<L, string | number>>;

/** One value of a metric as prom-client's `get()` gives it. */
interface CellValue {
  readonly labels: Labels<string>;
  readonly value: number;
  readonly metricName: string;
  /** prom-client's histograms give `null` on buckets (no exemplars kept). */
  readonly exemplar?: null;
}

/**
 * Counts for a counter with a fixed list of label sets, counted by index on the
 * query path. Give {@link publish} to the counter's `collect`.
 */
export class CounterCells<L extends string> {
  /** The count of each label set, by index. */
  readonly counts: Float64Array;

  constructor(private readonly labelSets: readonly Labels<L>[]) {
    this.counts = new Float64Array(labelSets.length);
  }

  /** Adds one to the label set at `index`. */
  inc(index: number): void {
    this.counts[index] = (this.counts[index] as number) + 1;
  }

  /** Hands the totals to `counter` (its `collect()` hook, at scrape time). */
  publish(counter: Counter<L>): void {
    counter.reset();
    for (let i = 0; i < this.counts.length; i++) {
      const count = this.counts[i] as number;
      if (count > 0) counter.inc(this.labelSets[i] as Labels<L>, count);
    }
  }
}

/** Settings of a {@link CellHistogram}. */
export interface CellHistogramConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  /** Upper bounds, ascending (`+Inf` is added). */
  readonly buckets: readonly number[];
  /** The label set of each series, by index. */
  readonly series: readonly Labels<L>[];
}

/**
 * A histogram with fixed series, observed by index, that a prom-client Registry
 * takes as a metric (`registerMetric`): `get()` returns what prom-client's own
 * Histogram returns (buckets cumulative, `le` first, then `_sum` and `_count`),
 * so the exposition text and `getMetricsAsJSON` are unchanged. Series never
 * observed are left out, as prom-client does.
 */
export class CellHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly bounds: Float64Array;
  /** Per series, per bucket (the last is +Inf): observations that fell in it (not cumulative). */
  private readonly counts: Float64Array;
  private readonly sums: Float64Array;
  private readonly totals: Float64Array;

  constructor(private readonly config: CellHistogramConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.bounds = Float64Array.from(config.buckets);
    this.counts = new Float64Array(config.series.length * (config.buckets.length + 1));
    this.sums = new Float64Array(config.series.length);
    this.totals = new Float64Array(config.series.length);
  }

  /** Records `value` in series `series`. */
  observe(series: number, value: number): void {
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && value > (bounds[b] as number)) b++;
    const cell = series * (bounds.length + 1) + b;
    this.counts[cell] = (this.counts[cell] as number) + 1;
    this.sums[series] = (this.sums[series] as number) + value;
    this.totals[series] = (this.totals[series] as number) + 1;
  }

  /** The values in prom-client's form. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; values: CellValue[]; aggregator: 'sum' }> {
    const values: CellValue[] = [];
    const width = this.bounds.length + 1;
    this.config.series.forEach((labels, s) => {
      const total = this.totals[s] as number;
      if (total === 0) return;
      let cumulative = 0;
      for (let b = 0; b < width; b++) {
        cumulative += this.counts[s * width + b] as number;
        const le = b < this.bounds.length ? (this.bounds[b] as number) : '+Inf';
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket`, exemplar: null });
      }
      values.push({ labels: { ...labels }, value: this.sums[s] as number, metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: total, metricName: `${this.name}_count` });
    });
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' });
  }

  /** Forgets every observation (prom-client's `registry.resetMetrics()`). */
  reset(): void {
    this.counts.fill(0);
    this.sums.fill(0);
    this.totals.fill(0);
  }
}
