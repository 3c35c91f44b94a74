/**
 * The report's charts, as Vega-Lite specifications rendered to SVG by Vega
 * headless (no browser, no canvas): lookup success per second and the load
 * reaching the upstreams, one line per resolver, the outage shaded and the
 * restart marked. Scales, axes, legends and layout are Vega's.
 */
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import type { SeriesPoint } from './summary.js';
import type { Timeline } from './timeline.js';

/** What the charts need of each resolver. */
export interface ChartInput {
  readonly name: string;
  readonly series: readonly SeriesPoint[];
  /** Scenario second of its restart. */
  readonly restartAt: number | undefined;
}

/** One layer of a layered Vega-Lite chart. */
type Layer = Extract<TopLevelSpec, { layer: unknown }>['layer'][number];

const minutes = (s: number) => Math.round((s / 60) * 1000) / 1000;

function backdrop(timeline: Timeline, restarts: readonly number[]): Layer[] {
  return [
    {
      data: { values: [{ from: minutes(timeline.outageStart), to: minutes(timeline.outageEnd), label: 'control plane down' }] },
      mark: { type: 'rect', color: '#d62728', opacity: 0.08 },
      encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' } },
    },
    {
      data: { values: restarts.map((s) => ({ at: minutes(s) })) },
      mark: { type: 'rule', strokeDash: [4, 3], color: '#888' },
      encoding: { x: { field: 'at', type: 'quantitative' } },
    },
  ];
}

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Seconds per plotted point: at most about 300 points per line, so a real-time replay stays readable. */
const binSize = (inputs: readonly ChartInput[]) => Math.max(1, Math.ceil(Math.max(0, ...inputs.map((r) => r.series.length)) / 300));

/** A line per resolver: `value` of each bin of `size` seconds (null: no point). Drawn last-first, so the first resolver is on top. */
function lines(inputs: readonly ChartInput[], size: number, value: (bin: readonly SeriesPoint[]) => number | null): Record<string, unknown>[] {
  return [...inputs].reverse().flatMap((r) => {
    const rows: Record<string, unknown>[] = [];
    for (let i = 0; i < r.series.length; i += size) {
      const bin = r.series.slice(i, i + size);
      const y = value(bin);
      if (y !== null) rows.push({ minute: minutes((bin[0] as SeriesPoint).t), resolver: r.name, y });
    }
    return rows;
  });
}

/** Lookups that succeeded / lookups in a bin. */
function success(bin: readonly SeriesPoint[]): number | null {
  const lookups = bin.reduce((n, p) => n + p.lookups, 0);
  return lookups === 0 ? null : bin.reduce((n, p) => n + p.lookups - p.lookupsFailed, 0) / lookups;
}

/** Mean per second of `pick` over a bin. */
const mean = (pick: (p: SeriesPoint) => number) => (bin: readonly SeriesPoint[]) => bin.reduce((n, p) => n + pick(p), 0) / bin.length;

const per = (size: number) => (size === 1 ? 'per second' : `per second, mean of each ${size} s`);

/** One colour per resolver, in the order given, legend below. */
const colors = (names: readonly string[]) => ({
  field: 'resolver',
  type: 'nominal' as const,
  scale: { domain: [...names] },
  legend: { orient: 'bottom' as const, columns: 3, labelLimit: 400 },
});

const xAxis = (timeline: Timeline) => ({
  field: 'minute',
  type: 'quantitative' as const,
  title: `scenario minutes (time scale ${timeline.scale}×; outage shaded, restarts dashed)`,
  scale: { domain: [0, minutes(timeline.end)], nice: false },
});

/** Lookup success ratio per second, one line per resolver. */
export function successChart(inputs: readonly ChartInput[], timeline: Timeline): Promise<string> {
  const names = inputs.map((r) => r.name);
  const size = binSize(inputs);
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Lookups that succeeded, ${per(size)}`,
    width: 760,
    height: 320,
    layer: [
      ...backdrop(timeline, inputs.flatMap((r) => (r.restartAt === undefined ? [] : [r.restartAt]))),
      {
        data: { values: lines(inputs, size, success) },
        mark: { type: 'line', strokeWidth: 2, interpolate: 'linear' },
        encoding: {
          x: xAxis(timeline),
          y: { field: 'y', type: 'quantitative', title: 'success ratio', scale: { domain: [0, 1.02], nice: false }, axis: { format: '.0%', values: [0, 0.2, 0.4, 0.6, 0.8, 1] } },
          color: colors(names),
        },
      },
    ],
  });
}

/** Queries per wall-clock second reaching kube-dns and the external resolver, one line per resolver. */
export function upstreamChart(inputs: readonly ChartInput[], timeline: Timeline): Promise<string> {
  const names = inputs.map((r) => r.name);
  const size = binSize(inputs);
  const panel = (title: string, pick: (p: SeriesPoint) => number): Extract<TopLevelSpec, { layer: unknown }> => ({
    title: `${title}, ${per(size)}`,
    width: 760,
    height: 200,
    layer: [
      ...backdrop(timeline, []),
      {
        data: { values: lines(inputs, size, mean(pick)) },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x: xAxis(timeline),
          y: { field: 'y', type: 'quantitative', title: 'queries / s (wall clock)', scale: { type: 'symlog' } },
          color: colors(names),
        },
      },
    ],
  });
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    vconcat: [panel('Queries reaching kube-dns (the upstream that fails)', (p) => p.upstreamKubeDns), panel('Queries reaching the external resolver', (p) => p.upstreamExternal)],
    resolve: { scale: { color: 'shared' } },
  });
}
