/**
 * ops/metrics: GET /metrics in Prometheus text, by prom-client. The planes
 * keep plain-number counters on their hot paths (no metrics library there);
 * this module reads them at scrape time through `MetricFamily.read`.
 * May import: prom-client.
 */
import client from 'prom-client';

export type Labels = Record<string, string>;

export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labelNames: readonly string[];
  /** Current values, read at scrape time. */
  read(): Iterable<readonly [Labels, number]>;
}

/** A registry for one instance (never the global one: tests run several instances in one process). */
export class MetricsRegistry {
  readonly registry = new client.Registry();

  constructor(families: readonly MetricFamily[], defaults = true) {
    if (defaults) client.collectDefaultMetrics({ register: this.registry, prefix: 'srvproxy_process_', eventLoopMonitoringPrecision: 20 });
    for (const f of families) this.add(f);
  }

  add(f: MetricFamily): void {
    const config = { name: f.name, help: f.help, labelNames: [...f.labelNames], registers: [this.registry] };
    if (f.type === 'counter') {
      new client.Counter({
        ...config,
        collect() {
          this.reset();
          for (const [labels, v] of f.read()) this.inc(labels, v);
        },
      });
    } else {
      new client.Gauge({
        ...config,
        collect() {
          this.reset();
          for (const [labels, v] of f.read()) this.set(labels, v);
        },
      });
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Entries of a `Record<string, number>` as [labels, value] with one label. */
export function* byLabel(label: string, values: Readonly<Record<string, number>> | ReadonlyMap<string, number>): Iterable<readonly [Labels, number]> {
  const entries: Iterable<[string, number]> = values instanceof Map ? values.entries() : Object.entries(values);
  for (const [k, v] of entries) yield [{ [label]: k }, v] as const;
}
