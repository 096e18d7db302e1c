// Browser tracing for the demo page, bundled by esbuild into static/otel-tracing.js.
//
// Every click runs inside a span of service "frontend"; the fetch instrumentation makes a
// client span under it and sends `traceparent` (and `baggage`) with the request, so the click,
// the services and their SQL are ONE trace. Spans go over OTLP/HTTP (protobuf) to the page's
// own origin at /otlp-http/v1/traces, which the frontend server forwards to the collector:
// no CORS, nothing loaded from anywhere else. Whether those exports fail is told to the page
// (onExport), which says so: a trace without its browser spans is otherwise a silent mystery.
import { SpanStatusCode, context, propagation, trace } from "@opentelemetry/api";
import {
  CompositePropagator,
  ExportResultCode,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { registerInstrumentations } from "@opentelemetry/instrumentation";
import { DocumentLoadInstrumentation } from "@opentelemetry/instrumentation-document-load";
import { FetchInstrumentation } from "@opentelemetry/instrumentation-fetch";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, WebTracerProvider } from "@opentelemetry/sdk-trace-web";

const OTLP_PATH = "/otlp-http/v1/traces";

// Who wants to know how each export of the browser's spans went (see onExport).
const exportListeners = new Set();
let exportsReported = 0;

/**
 * What the page's origin answers an export now: `{status, error, message}` (`status` 0: no
 * answer). The exporter's own error says only that an export failed, not what was answered, so
 * the page asks once more with an empty export (valid OTLP, no spans in it).
 */
async function askTheOrigin() {
  try {
    const response = await fetch(OTLP_PATH, {
      method: "POST",
      headers: { "Content-Type": "application/x-protobuf" },
      body: new Uint8Array(0),
    });
    let answer = {};
    try {
      answer = await response.json();
    } catch {
      // A collector's answer (protobuf), or another body that is not the frontend's JSON error.
    }
    return { status: response.status, error: answer.error || "", message: answer.message || "" };
  } catch (error) {
    return { status: 0, error: "", message: String(error.message || error) };
  }
}

/** Each export's outcome to the listeners: `{ok: true}`, or `{ok: false, status, error,
 * message}` from askTheOrigin. Only the latest export's outcome is told. */
async function reportExport(result) {
  const number = ++exportsReported;
  const ok = result.code === ExportResultCode.SUCCESS;
  const outcome = ok ? { ok } : { ok, ...(await askTheOrigin()) };
  if (number !== exportsReported) return; // a later export's outcome is (being) told instead
  if (!outcome.ok && outcome.status >= 200 && outcome.status < 300) {
    outcome.message = String(result.error?.message || result.error || "the export failed");
  }
  for (const listener of exportListeners) listener(outcome);
}

/** The OTLP exporter, telling each export's outcome to reportExport. */
class ReportingExporter {
  constructor(exporter) {
    this.exporter = exporter;
  }

  export(spans, resultCallback) {
    this.exporter.export(spans, (result) => {
      reportExport(result);
      resultCallback(result);
    });
  }

  forceFlush() {
    return this.exporter.forceFlush();
  }

  shutdown() {
    return this.exporter.shutdown();
  }
}

const provider = new WebTracerProvider({
  resource: resourceFromAttributes({
    "service.name": "frontend",
    "service.namespace": "tracing-demo",
  }),
  spanProcessors: [
    // A tenth of a second (the SDK's default is 5 s): the click's trace under it is whole as soon
    // as its own span arrives, and a click makes one export, so this costs one request a click.
    new BatchSpanProcessor(new ReportingExporter(new OTLPTraceExporter({ url: OTLP_PATH })), {
      scheduledDelayMillis: 100,
    }),
  ],
});
provider.register({
  propagator: new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  }),
});

// Attributes a click gives one of its fetches' spans (see traceClick), by the fetch's init object:
// the instrumentation hands that very object to its hooks.
const fetchSpanAttributes = new WeakMap();

registerInstrumentations({
  tracerProvider: provider,
  instrumentations: [
    new DocumentLoadInstrumentation(),
    new FetchInstrumentation({
      // Same-origin requests always carry traceparent; never trace the span export itself,
      // nor the trace view reading traces back (each look would start a trace of its own).
      ignoreUrls: [/\/otlp-http\//, /\/api\/traces\//],
      clearTimingResources: true,
      requestHook: (span, init) => {
        const attributes = fetchSpanAttributes.get(init);
        if (attributes) span.setAttributes(attributes);
      },
      // An answered write sent with an idempotency key says whether the answer replays an
      // earlier attempt's (the Idempotent-Replayed header), as the services' client spans do.
      applyCustomAttributesOnSpan: (span, init, result) => {
        const attributes = fetchSpanAttributes.get(init);
        if (attributes && "app.idempotency.key" in attributes && result instanceof Response) {
          const replayed = result.headers.get("Idempotent-Replayed") === "true";
          span.setAttribute("app.idempotency.replayed", replayed);
        }
      },
    }),
  ],
});

const tracer = trace.getTracer("frontend");

/**
 * Run `work` inside a span named `name` (the root of the click's trace).
 *
 * `work` receives a `fetch` bound to the span's context, so every request it makes, even
 * after an `await`, is a child of the click; its optional third argument holds attributes for
 * that request's client span (`http.request.resend_count`, `app.idempotency.key`).
 * `baggage` entries ride along to every service.
 */
async function traceClick(name, attributes, work, baggage = {}) {
  return tracer.startActiveSpan(name, { attributes, root: true }, async (span) => {
    let ctx = context.active();
    const entries = Object.entries(baggage).filter(([, value]) => value);
    if (entries.length) {
      const bag = propagation.createBaggage(
        Object.fromEntries(entries.map(([key, value]) => [key, { value: String(value) }])),
      );
      ctx = propagation.setBaggage(ctx, bag);
    }
    const tracedFetch = (input, init = {}, spanAttributes = null) => {
      if (spanAttributes) fetchSpanAttributes.set(init, spanAttributes);
      return context.with(ctx, () => fetch(input, init));
    };
    try {
      return await work(tracedFetch, span);
    } catch (error) {
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

window.demoTracing = {
  traceClick,
  // A failed export is told through onExport: the flush itself need not say it again.
  flush: () => provider.forceFlush().catch(() => {}),
  /** `listener(outcome)` after each export of the browser's spans (see reportExport). */
  onExport: (listener) => exportListeners.add(listener),
};
