// Sends one fixed set of metrics to an OTLP/HTTP endpoint with the OpenTelemetry JS SDK, then exits:
//   node send.mjs URL proto|json INSTANCE_ID [gzip|none] [BEARER_TOKEN] [FORGED_NAMESPACE]
// Used by tests/integration/test_otlp.py, which derives the series it expects from Prometheus' OTLP
// translation rules. Exit status 0 when the export succeeded, 1 (with the error) when it failed.
import { metrics } from '@opentelemetry/api';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

const [url, protocol, instance, compression = 'none', token = '', forged = ''] = process.argv.slice(2);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const Exporter = protocol === 'json' ? JsonExporter : ProtoExporter;
const exporter = new Exporter({ url, headers, compression });
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3600 * 1000 });
const provider = new MeterProvider({
  resource: resourceFromAttributes({
    [ATTR_SERVICE_NAME]: 'checkout',
    'service.namespace': 'shop',
    'service.instance.id': instance,
    'deployment.environment': 'test',
    'host.name': 'node-1',
  }),
  readers: [reader],
});
metrics.setGlobalMeterProvider(provider);
const meter = provider.getMeter('vigil-otlp-test', '1.0.0');

// a monotonic counter with attributes of several kinds
const requests = meter.createCounter('http.server.requests', { unit: '{request}', description: 'Requests served.' });
const extra = forged ? { namespace: forged } : {};
requests.add(5, { 'http.method': 'GET', 'http.status_code': 200, ok: true, ...extra });
requests.add(3, { 'http.method': 'POST', 'http.status_code': 500, ok: false, ...extra });

// an up-down counter: a non-monotonic cumulative sum
const queue = meter.createUpDownCounter('queue.items', { unit: '{item}' });
queue.add(7, { 'queue.name': 'orders' });
queue.add(-2, { 'queue.name': 'orders' });

// observable gauges: bytes and a ratio (unit 1)
meter.createObservableGauge('process.memory.usage', { unit: 'By' })
  .addCallback((r) => r.observe(1234, { 'memory.type': 'heap' }));
meter.createObservableGauge('cpu.utilization', { unit: '1' })
  .addCallback((r) => r.observe(0.25, { 'cpu.load.factor': 1.5 }));

// an observable counter in seconds
meter.createObservableCounter('system.cpu.time', { unit: 's' })
  .addCallback((r) => r.observe(42.5, { 'cpu.mode': 'user' }));

// a histogram with explicit buckets
const duration = meter.createHistogram('http.server.duration', {
  unit: 's',
  advice: { explicitBucketBoundaries: [0.1, 0.5, 1] },
});
for (const v of [0.05, 0.3, 0.3, 2]) duration.record(v, { 'http.route': '/api/items' });

try {
  await reader.forceFlush();
  await provider.shutdown();
  process.exit(0);
} catch (e) {
  console.error(`export failed: ${e && e.message ? e.message : e}`);
  process.exit(1);
}
